from django.core.management import call_command


def test_preferences_models_match_migrations(db):
    call_command("makemigrations", "preferences", "--check", "--dry-run", verbosity=0)
