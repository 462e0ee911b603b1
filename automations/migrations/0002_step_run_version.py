import django.db.models.deletion
from django.db import migrations, models


def fill_versions(apps, schema_editor):
    JourneyStepRun = apps.get_model("automations", "JourneyStepRun")
    Journey = apps.get_model("automations", "Journey")
    JourneyStepRun.objects.update(
        version_id=models.Subquery(Journey.objects.filter(pk=models.OuterRef("journey_id")).values("version_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="journeysteprun", name="one_run_per_journey_step"),
        migrations.AddField(
            model_name="journeysteprun",
            name="version",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="step_runs",
                to="automations.automationversion",
                verbose_name="version",
            ),
        ),
        migrations.RunPython(fill_versions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="journeysteprun",
            name="version",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="step_runs",
                to="automations.automationversion",
                verbose_name="version",
            ),
        ),
        migrations.AddConstraint(
            model_name="journeysteprun",
            constraint=models.UniqueConstraint(
                fields=("journey", "version", "step_index"), name="one_run_per_journey_step"
            ),
        ),
    ]
