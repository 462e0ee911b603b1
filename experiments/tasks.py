from celery import shared_task


@shared_task
def evaluate() -> None:
    """Beat: take the planned looks at running A/B tests and send decided winners to the rest."""
    from experiments.services import ab_tests_evaluate

    ab_tests_evaluate()
