"""Login: profile, username and a masked password, then the second-factor wait.

The password lives only in the worker that sends it: it is not stored on a screen, not
logged, and a refused password is never retried automatically (the site bans an address
after repeated failures). Errors are shown in words: the API's session ID for internal
errors, the documentation link when no second channel is bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.widget import Widget
from textual.widgets import Label, Static
from textual.worker import Worker

from core.errors import ApiError, SuanError
from tui import format as fmt
from tui.base import SuanInput, SuanScreen
from tui.facade import CertLike
from tui.messages import LoginProgressed, LoginSucceeded

STAGE_WORDS = {
    "token": "Checking your password…",
    "key": "Making a new key pair…",
    "approval": "Waiting for your approval…",
    "done": "Certificate received.",
}

DEFAULT_WHERE = "交我办 app or email"


def error_words(error: BaseException) -> Text:
    """An error for a person: the message, the hint, and the session ID when there is one."""
    text = Text()
    if isinstance(error, SuanError):
        text.append(fmt.remote(error.message))
        if error.hint:
            text.append("\n")
            text.append(fmt.remote(error.hint))
        if (
            isinstance(error, ApiError)
            and error.session_id
            and error.session_id not in f"{error.message} {error.hint or ''}"
        ):
            text.append(f"\nSession ID: {error.session_id} (quote it to hpc@sjtu.edu.cn)")
    else:
        text.append(fmt.remote(f"{type(error).__name__}: {error}"))
    return text


class LoginScreen(SuanScreen[CertLike]):
    """Profile, username, password; dismissed with the new certificate."""

    CSS_PATH = "login.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Log in", id="login.submit", priority=True),
    ]

    def __init__(self, *, reason: str = "") -> None:
        super().__init__()
        self.reason = reason

    def compose_body(self) -> Iterable[Widget]:
        app = self.suan_app
        profile = app.suan.profile
        with Center(id="login-center"), Vertical(id="login-box"):
            yield Static(Text("Log in to " + app.suan.site.label, style="bold"), id="login-title")
            yield Static(
                Text.assemble(("Profile  ", "dim"), fmt.remote(profile.name)), id="login-profile"
            )
            yield Label("Username")
            yield SuanInput(value=profile.username, id="login-user", disabled=True)
            yield Label("Password")
            yield SuanInput(password=True, id="login-password", placeholder="password")
            yield Static(Text(self.reason, style="yellow"), id="login-message")
            yield Static(
                Text(
                    "After the password, approve the request in the 交我办 app or by email.",
                    style="dim",
                ),
                id="login-help",
            )

    def on_mount(self) -> None:
        self.query_one("#login-password", SuanInput).focus()

    def action_submit(self) -> None:
        """Send the password once the field has taken every key typed before enter.

        enter is a priority binding, so it arrives ahead of keys still queued for the
        field (a pasted password): the send is queued behind them on the field itself.
        """
        self.query_one("#login-password", SuanInput).call_later(self._send_password)

    def _send_password(self) -> None:
        """The second-factor screen takes over with the password."""
        field = self.query_one("#login-password", SuanInput)
        password = field.value
        if not password:
            self.show_message(Text("Type your password first.", style="yellow"))
            return
        field.value = ""
        self.show_message(Text(""))
        self.app.push_screen(SecondFactorScreen(password=password), self._second_factor_done)

    def _second_factor_done(self, result: CertLike | BaseException | None) -> None:
        if result is None:
            self.show_message(Text("Login cancelled. Nothing was stored.", style="yellow"))
        elif isinstance(result, BaseException):
            self.show_message(Text.assemble(error_words(result), style="red"))
        else:
            self.dismiss(result)

    def show_message(self, text: Text) -> None:
        """Words under the form (errors in red)."""
        self.query_one("#login-message", Static).update(text)


class SecondFactorScreen(SuanScreen[Any]):
    """Waits for the second factor: where to approve, time elapsed, cancel, the validity.

    Dismissed with the certificate, with the error (for the login screen to word), or with
    None when cancelled. ``password=None`` renews with the stored token instead.
    """

    CSS_PATH = "login.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="second_factor.cancel"),
        Binding("enter", "continue", "Continue", id="second_factor.continue"),
    ]

    def __init__(self, *, password: str | None) -> None:
        super().__init__()
        self._password = password
        self.renewing = password is None
        self.started: datetime | None = None
        self.stage = "token"
        self.where = DEFAULT_WHERE
        self.cert: CertLike | None = None
        self._worker: Worker[None] | None = None

    def compose_body(self) -> Iterable[Widget]:
        title = "Renewing your certificate" if self.renewing else "Second factor"
        with Center(id="second-center"), Vertical(id="second-box"):
            yield Static(Text(title, style="bold"), id="second-title")
            yield Static(id="second-where")
            yield Static(id="second-stage")
            yield Static(id="second-result")

    def on_mount(self) -> None:
        self.started = self.now()
        password, self._password = self._password, None
        self._worker = self.run_login(password)
        self.set_interval(1.0, self.update_view)
        self.update_view()

    @work(exclusive=True, group="login", exit_on_error=False, description="Logging in")
    async def run_login(self, password: str | None) -> None:
        """Log in (or renew) through the facade; progress and the result come as messages."""
        identity = self.suan.identity

        def progress(event: Any) -> None:
            stage = str(getattr(event, "stage", ""))
            where = str(getattr(event, "approve_where", "") or DEFAULT_WHERE)
            self.post_message(LoginProgressed(stage, where))

        if password is None:
            cert = await identity.renew(on_progress=progress)
        else:
            cert = await identity.login(password, on_progress=progress)
        self.post_message(LoginSucceeded(cert))

    def on_login_progressed(self, message: LoginProgressed) -> None:
        if self.cert is None:
            self.stage = message.stage
            self.where = message.where
            self.update_view()

    def on_login_succeeded(self, message: LoginSucceeded) -> None:
        self.cert = message.cert
        self.stage = "done"
        self.update_view()
        self.refresh_bindings()

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        # The login screen words the error next to the form; nothing else to report.
        self.dismiss(error)

    def elapsed(self) -> int:
        """Whole seconds since the request was sent."""
        if self.started is None:
            return 0
        return int((self.now() - self.started).total_seconds())

    def update_view(self) -> None:
        """Redraw where to approve, the stage and the time elapsed (or the validity)."""
        where = Text()
        where.append("Approve this login in the ")
        where.append(self.where, style="bold")
        where.append(".\nsuan waits up to 15 minutes; esc cancels.")
        self.query_one("#second-where", Static).update(where)
        stage = Text(STAGE_WORDS.get(self.stage, self.stage))
        if self.cert is None:
            stage.append(f"  {fmt.duration(self.elapsed())} elapsed", style="dim")
        self.query_one("#second-stage", Static).update(stage)
        result = Text()
        if self.cert is not None:
            left = self.cert.valid_before - self.now()
            result.append("Certificate valid from ")
            result.append(fmt.timestamp(self.cert.valid_after), style="bold")
            result.append("\nuntil ")
            result.append(fmt.timestamp(self.cert.valid_before), style="bold")
            result.append(f" ({fmt.remaining(left)} left)")
            result.append("\n\nPress enter to continue.", style="green")
        self.query_one("#second-result", Static).update(result)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":
            return self.cert is not None
        if action == "cancel":
            return self.cert is None
        return True

    def action_cancel(self) -> None:
        """Stop waiting: the request is abandoned and nothing is stored."""
        if self._worker is not None:
            self._worker.cancel()
        self.dismiss(None)

    def action_continue(self) -> None:
        """Leave with the new certificate."""
        if self.cert is not None:
            self.dismiss(self.cert)
