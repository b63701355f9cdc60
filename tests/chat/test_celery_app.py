"""The Celery app as workers see it: JSON only, late acks, one message held, time limits, queues, the sweep."""

from config.celery_app import app
from worker import tasks


def test_delivery_guarantees_and_limits():
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    for task in (tasks.run_generation_job, tasks.deliver_callback):
        assert task.acks_late and task.reject_on_worker_lost


def test_worker_processes_preload_the_engine_unless_told_not_to(settings, monkeypatch):
    loads = []
    monkeypatch.setattr(tasks, "get_engine", lambda: loads.append(1))
    tasks.load_engine_in_worker_process()
    settings.GENERATION_PRELOAD_ENGINE = False
    tasks.load_engine_in_worker_process()
    assert loads == [1]


def test_queues_and_beat_schedule():
    route = app.amqp.router.route
    assert route({}, tasks.run_generation_job.name)["queue"].name == "generation"
    assert route({}, tasks.deliver_callback.name)["queue"].name == "callbacks"
    assert route({}, tasks.requeue_stale_jobs.name)["queue"].name == "callbacks"
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == {tasks.requeue_stale_jobs.name}
