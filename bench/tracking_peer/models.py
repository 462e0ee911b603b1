from django.db import models


class PixelHit(models.Model):
    """One open, stored the moment the pixel is requested."""

    delivery_id = models.BigIntegerField()
    occurred_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    def __str__(self):
        return f"{self.delivery_id} {self.occurred_at:%Y-%m-%d %H:%M:%S}"
