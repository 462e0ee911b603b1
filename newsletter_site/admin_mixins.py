"""What several apps' admin classes share."""


class ReadOnlyAdminMixin:
    """Records no one edits by hand (consent proof, events, rewards): view permission only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
