"""Create (or reset) an administrator from the command line: the first account of a new console."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from web.models import Role, User


class Command(BaseCommand):
    help = "Create an active administrator (password from --password-env, else asked on the terminal)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--first-name", default="Admin")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--password-env", default="",
                            help="environment variable holding the password (for scripts); else asked")
        parser.add_argument("--reset", action="store_true", help="reset the password of an existing account")

    def handle(self, *args: Any, **opts: Any) -> None:
        email = opts["email"].strip().lower()
        if opts["password_env"]:
            password = os.environ.get(opts["password_env"])
            if not password:
                raise CommandError(f"environment variable {opts['password_env']} is empty or not set")
        else:
            password = getpass.getpass(f"Password for {email}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("the passwords differ")
        existing = User.all_objects.filter(email=email).first()
        if existing is not None and not opts["reset"]:
            raise CommandError(f"an account {email} exists already: use --reset to make it an active administrator")
        user = existing or User(email=email, first_name=opts["first_name"], last_name=opts["last_name"])
        try:
            password_validation.validate_password(password, user)
        except ValidationError as e:
            raise CommandError("password refused: " + " ".join(e.messages)) from e
        user.set_password(password)
        user.role, user.is_active, user.deleted_at, user.deleted_by = Role.ADMIN, True, None, None
        user.save()
        self.stdout.write(f"administrator {email} ready")
