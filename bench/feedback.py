"""The feedback loop measured PRELUDE-style: simulated users with a hidden preference edit every reply.

    python -m bench.feedback [--rounds 16] [--max-new-tokens 128] [--preferences FILE.json] [--split report]

Each hidden preference (a spec of `bench.feedback_users`, e.g. `{"type": "max_sentences", "value": 3}`; another
list can be given as a JSON file) is run in three conditions, each with a fresh user of the real API (Django's
full request stack in this process, the embedded mode's SQLite database and in-process jobs on the real default
model):
- no learning: the user only asks;
- learning: every reply is edited by the user's deterministic editor and the edit is sent as feedback (rating
  up when nothing needed editing); every pending suggestion is accepted;
- oracle: the hidden preference is stated as a principle (in words) from round one.
Every condition asks the same questions, in the same order. Reported per round: PRELUDE's cost (the word-level
edit distance between the reply and the user's edit), the share of zero-edit replies, suggestions made and
accepted; and the gain `(no learning - learning) / (no learning - oracle)` on the mean cost over the second half
of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CONDITIONS = ("no_learning", "learning", "oracle")


@dataclass
class Round:
    cost: int
    suggestions_made: int = 0
    suggestions_accepted: int = 0
    reply: str = ""


@dataclass
class Run:
    preference: dict[str, Any]
    condition: str
    rounds: list[Round] = field(default_factory=list)


def _setup_django(database: str) -> None:
    """The embedded mode in this process: a fresh SQLite file, no broker, jobs in-process."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-feedback-not-secret",
            "DATABASE_URL": f"sqlite:///{database}",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "THROTTLE_GENERATION_RATE": "100000/min",
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "ALLOWED_HOSTS": "testserver",
            "GENERATION_WAIT_MAX_SECONDS": "1800",
            "GENERATION_BATCH_SIZE": "16",
            "GENERATION_RUNNING_DEADLINE_SECONDS": "3600",
            "GENERATION_QUEUED_DEADLINE_SECONDS": "7200",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class User:
    """One simulated user, talking to the API through Django's test client with a real token."""

    def __init__(self, name: str, max_new_tokens: int) -> None:
        from django.contrib.auth import get_user_model
        from knox.models import AuthToken
        from rest_framework.test import APIClient

        self.user = get_user_model().objects.create_user(username=name)
        _, token = AuthToken.objects.create(user=self.user)
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        self.max_new_tokens = max_new_tokens
        self.conversation_id = self.call("post", "/api/v1/conversations/", {})["id"]

    def call(self, method: str, path: str, body: Any = None, expect: Sequence[int] = (200, 201, 202)) -> Any:
        response = getattr(self.client, method)(path, body, format="json")
        if response.status_code not in expect:
            raise RuntimeError(f"{method.upper()} {path} -> {response.status_code}: {response.content[:300]!r}")
        return response.json() if response.content else None

    def submit(self, question: str) -> str:
        """Queue the question (202, like a mobile client) in a fresh conversation; returns the job id."""
        conversation = self.call("post", "/api/v1/conversations/", {})["id"]
        return self.call(
            "post",
            f"/api/v1/conversations/{conversation}/messages/",
            {"content": question, "settings": {"max_new_tokens": self.max_new_tokens}},
        )["id"]

    def reply(self, job_id: str) -> str:
        while True:
            job = self.call("get", f"/api/v1/jobs/{job_id}/?wait=60")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
                return job["reply"]["content"]

    def pending_suggestions(self) -> list[dict[str, Any]]:
        return self.call("get", "/api/v1/suggestions/?status=pending&limit=200")["results"]


def _new_user(preference: dict[str, Any], condition: str, index: int, max_new_tokens: int) -> User:
    from preferences.learning.phrasing import principle_text

    user = User(f"{condition}-{index}-{preference['type']}", max_new_tokens)
    if condition == "oracle":
        user.call("post", "/api/v1/principles/", {"text": principle_text(preference)})
    return user


def run_all(preferences: Sequence[dict[str, Any]], questions: Sequence[str], max_new_tokens: int) -> list[Run]:
    """Every condition of every preference. Users that send no feedback (no learning, oracle) have all their
    questions queued at once, so the engine batches them; learning users go round by round, all preferences'
    questions of a round together, since each round depends on the suggestions of the one before."""
    from assistant.refinement import preferences_refine
    from bench.feedback_users import editor_from_spec, word_edit_distance

    editors = [editor_from_spec(preference) for preference in preferences]
    runs: dict[tuple[int, str], Run] = {}
    users = {
        (index, condition): _new_user(preference, condition, index, max_new_tokens)
        for index, preference in enumerate(preferences)
        for condition in CONDITIONS
    }
    for key in users:
        runs[key] = Run(preference=preferences[key[0]], condition=key[1])
    # Without principles or feedback a reply does not depend on the hidden preference (greedy decoding, the same
    # questions, the same default alpha): the first no-learning user's replies serve every preference's editor.
    static = [key for key in users if key[1] == "oracle"] + [(0, "no_learning")]
    jobs = {key: [users[key].submit(question) for question in questions] for key in static}
    replies = {key: [users[key].reply(job_id) for job_id in jobs[key]] for key in static}
    for index in range(len(preferences)):
        replies[(index, "no_learning")] = replies[(0, "no_learning")]
    for key, texts in replies.items():
        runs[key].rounds = [
            Round(cost=word_edit_distance(reply, editors[key[0]].edit(reply)), reply=reply) for reply in texts
        ]
    learners = [key for key in users if key[1] == "learning"]
    for number, question in enumerate(questions):
        submitted = {key: users[key].submit(question) for key in learners}
        for key in learners:
            user, editor = users[key], editors[key[0]]
            reply = user.reply(submitted[key])
            result = Round(cost=word_edit_distance(reply, editor.edit(reply)), reply=reply)
            user.call("post", f"/api/v1/jobs/{submitted[key]}/feedback/", editor.feedback(reply))
            # The API queued refinement on the in-process runner; running it here too is an idempotent barrier,
            # so the suggestions of this round are there before the user looks.
            preferences_refine(user_id=user.user.pk)
            pending = user.pending_suggestions()
            result.suggestions_made = len(pending)
            for suggestion in pending:
                response = user.client.post(f"/api/v1/suggestions/{suggestion['id']}/accept/")
                result.suggestions_accepted += response.status_code == 200
            runs[key].rounds.append(result)
        print(
            f"round {number + 1}: learning costs {[runs[key].rounds[-1].cost for key in learners]}",
            file=sys.stderr,
            flush=True,
        )
    return [runs[(index, condition)] for index in range(len(preferences)) for condition in CONDITIONS]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def second_half_cost(run: Run) -> float:
    return mean([r.cost for r in run.rounds[len(run.rounds) // 2 :]])


def report(runs: list[Run], rounds: int) -> str:
    from bench.common import markdown_table
    from bench.feedback_users import gain

    lines = []
    by_preference: dict[str, dict[str, Run]] = {}
    for run in runs:
        by_preference.setdefault(json.dumps(run.preference, sort_keys=True), {})[run.condition] = run
    header = ["round"] + [f"{c} cost" for c in CONDITIONS] + ["learning suggestions made / accepted"]
    gains, summary_rows = [], []
    for key, conditions in by_preference.items():
        lines.append(f"\n#### hidden preference {key}\n")
        rows = []
        for number in range(rounds):
            learning = conditions["learning"].rounds[number]
            rows.append(
                [str(number + 1)]
                + [str(conditions[c].rounds[number].cost) for c in CONDITIONS]
                + [f"{learning.suggestions_made} / {learning.suggestions_accepted}"]
            )
        lines.append(markdown_table(header, rows))
        halves = {c: second_half_cost(conditions[c]) for c in CONDITIONS}
        zero = {c: mean([r.cost == 0 for r in conditions[c].rounds[rounds // 2 :]]) for c in CONDITIONS}
        value = gain(halves["no_learning"], halves["learning"], halves["oracle"])
        if value is not None:
            gains.append(value)
        summary_rows.append(
            [key]
            + [f"{halves[c]:.1f}" for c in CONDITIONS]
            + [f"{100 * zero[c]:.0f}%" for c in CONDITIONS]
            + [
                f"{sum(r.suggestions_accepted for r in conditions['learning'].rounds)}",
                "n/a (oracle saves nothing)" if value is None else f"{value:.2f}",
            ]
        )
    summary = markdown_table(
        ["hidden preference"]
        + [f"{c} cost (2nd half)" for c in CONDITIONS]
        + [f"{c} zero-edit (2nd half)" for c in CONDITIONS]
        + ["accepted", "gain"],
        summary_rows,
    )
    verdict = "PASS" if gains and mean(gains) >= 0.7 else "MISS"
    overall = f"\nmean gain over {len(gains)} preferences: {mean(gains):.2f} (target >= 0.7: {verdict})\n"
    return (
        "### Summary (second half of the rounds)\n\n"
        + summary
        + "\n"
        + overall
        + "\n### Per round\n"
        + "\n".join(lines)
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from bench.common import default_data_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--preferences", help="JSON file: a list of hidden preference specs")
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--json", help="also write every round (replies included) to this file")
    return parser.parse_args(argv)


DEFAULT_HIDDEN = (
    {"type": "max_sentences", "value": 3},
    {"type": "list_style", "value": "bullets"},
    {"type": "closing", "value": "Best regards."},
    {"type": "forbidden", "value": ["very"], "ignore_case": True},
)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        _setup_django(os.path.join(folder, "bench.sqlite3"))
        from bench.common import load_questions
        from bench.quality import split_questions

        questions = split_questions(load_questions(args.data), args.split)[: args.rounds]
        preferences = list(DEFAULT_HIDDEN)
        if args.preferences:
            with open(args.preferences, encoding="utf-8") as handle:
                preferences = json.load(handle)
        from worker.in_process import runner

        started = time.monotonic()
        try:
            runs = run_all(preferences, questions, args.max_new_tokens)
        finally:
            runner.shutdown()  # before the temporary database goes
        print(
            f"rounds={args.rounds} max_new_tokens={args.max_new_tokens} split={args.split} "
            f"preferences={len(preferences)} wall={time.monotonic() - started:.0f}s"
        )
        print(report(runs, args.rounds))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(
                    [
                        {
                            "preference": run.preference,
                            "condition": run.condition,
                            "rounds": [vars(r) for r in run.rounds],
                        }
                        for run in runs
                    ],
                    handle,
                    indent=1,
                )


if __name__ == "__main__":
    main()
