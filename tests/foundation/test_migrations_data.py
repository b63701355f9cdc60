"""Data survives the migrations: a database at the schema of the last release before the redesign (assistant 0002,
preferences 0001), with rows in every table of the project's apps, migrated to the current models, keeps every
row and every value (a job's alpha moved into its settings)."""

import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE_REDESIGN = [("assistant", "0002_callback_signing_secret"), ("preferences", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_rows_of_every_table_survive_migrating_to_the_current_layout():
    old = _migrate(BEFORE_REDESIGN)
    User = old.get_model("auth", "User")
    user = User.objects.create(username="alice")
    principle = old.get_model("preferences", "Principle").objects.create(
        owner=user, text="Reply in French.", weight=2.0, version=1
    )
    version = old.get_model("preferences", "PrincipleVersion").objects.create(
        principle=principle, number=1, text="Reply in French.", weight=2.0, active=True, created_by=user
    )
    conversation = old.get_model("assistant", "Conversation").objects.create(id=uuid.uuid4(), owner=user, title="T")
    Message = old.get_model("assistant", "Message")
    question = Message.objects.create(conversation=conversation, role="user", content="Hi", position=0)
    answer = Message.objects.create(conversation=conversation, role="assistant", content="Salut", position=1)
    job = old.get_model("assistant", "GenerationJob").objects.create(
        id=uuid.uuid4(),
        owner=user,
        conversation=conversation,
        user_message=question,
        input_messages=[{"role": "user", "content": "Hi"}],
        settings={"max_new_tokens": 8},
        alpha=2.5,
        principle_versions=[
            {"version_id": version.id, "principle_id": principle.id, "text": version.text, "weight": 2.0}
        ],
        status="succeeded",
        finish_reason="eos",
    )
    old.get_model("assistant", "Reply").objects.create(job=job, message=answer, content="Salut")
    old.get_model("assistant", "CallbackSigningSecret").objects.create(
        user=user, secret="ab" * 32, rotated_at=timezone.now()
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # the models are the migrated state

    from assistant.models import CallbackSigningSecret, Conversation, GenerationJob, Message, Reply
    from preferences.models import Principle, PrincipleVersion

    migrated = GenerationJob.objects.get(pk=job.pk)
    assert migrated.alpha == 2.5 and migrated.settings == {"max_new_tokens": 8, "alpha": 2.5}
    assert migrated.principle_versions[0]["version_id"] == version.id
    assert list(Message.objects.order_by("position").values_list("content", flat=True)) == ["Hi", "Salut"]
    assert Conversation.objects.get(pk=conversation.pk).title == "T"
    assert Reply.objects.get(job=migrated).content == "Salut"
    assert CallbackSigningSecret.objects.get(user_id=user.pk).secret == "ab" * 32
    assert Principle.objects.get(pk=principle.pk).text == "Reply in French."
    assert PrincipleVersion.objects.get(pk=version.pk).weight == 2.0
