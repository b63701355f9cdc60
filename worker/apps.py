from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Generation worker"

    def ready(self) -> None:
        """Fill the domain's job-queue port with the worker's adapter."""
        from assistant.job_queue import job_queue_register
        from worker.queues import WorkerJobQueue

        job_queue_register(WorkerJobQueue())
