"""The suan TUI: the app shell, its view registry, login gating and error reporting.

Views are Textual modes, one key each, listed in :data:`VIEWS`; adding a view is one line
there. Every screen asks the facade (``core.service.Suan``, typed here as
:class:`tui.facade.SuanLike`) in workers and renders the typed messages they post;
failures of every worker are worded in :meth:`SuanApp.report_error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen

from core.errors import NotLoggedIn, Refused, SuanError
from tui import format as fmt
from tui.base import SuanHeader
from tui.facade import CertLike, SuanLike, keymap_of, refresh_seconds
from tui.keymap import clean_keymap, ids_of
from tui.screens.confirm import CancelResultScreen, ConfirmCancelScreen
from tui.screens.detail import JobDetailScreen
from tui.screens.help import HelpScreen, KeyHelp
from tui.screens.history import HistoryScreen
from tui.screens.jobs import JobsScreen
from tui.screens.login import LoginScreen, SecondFactorScreen
from tui.screens.logs import LogScreen
from tui.screens.partitions import PartitionDetailScreen, PartitionsScreen
from tui.screens.storage import ConfirmDeleteScreen, FileLogScreen, InputDialog, StorageScreen
from tui.screens.transfers import ConfirmTransferCancelScreen, TransfersScreen
from widgets.job_table import JobTable
from widgets.log_view import LogView

Suan = SuanLike
"""The facade type ``run`` accepts (``core.service.Suan`` satisfies it)."""

RENEW_MARGIN = timedelta(hours=1)
"""A certificate with less than this left is offered renewal."""


@dataclass(frozen=True)
class View:
    """One top-level view: a mode with its own screen stack, reached by one key."""

    name: str
    key: str
    title: str
    screen: Callable[[], Screen[Any]]


VIEWS: tuple[View, ...] = (
    View("jobs", "1", "Jobs", JobsScreen),
    View("partitions", "2", "Partitions", PartitionsScreen),
    View("history", "3", "History", HistoryScreen),
    View("storage", "4", "Storage", StorageScreen),
    View("transfers", "5", "Transfers", TransfersScreen),
)
"""The view registry, in key order. Storage (4) and transfers (5) are added here."""

#: Classes whose bindings can be remapped from ``[keys]`` (for checking the table).
KEYMAP_CLASSES: tuple[type[Any], ...] = (
    StorageScreen,
    TransfersScreen,
    InputDialog,
    ConfirmDeleteScreen,
    ConfirmTransferCancelScreen,
    FileLogScreen,
    JobsScreen,
    PartitionsScreen,
    PartitionDetailScreen,
    HistoryScreen,
    JobDetailScreen,
    LogScreen,
    LoginScreen,
    SecondFactorScreen,
    ConfirmCancelScreen,
    CancelResultScreen,
    HelpScreen,
    JobTable,
    LogView,
)


def _now() -> datetime:
    return datetime.now(UTC)


class SuanApp(App[None]):
    """The suan terminal app over one facade."""

    CSS_PATH: ClassVar[str] = "app.tcss"
    TITLE = "suan"
    ENABLE_COMMAND_PALETTE = True
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {v.name: v.screen for v in VIEWS}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(v.key, f"view('{v.name}')", v.title, show=False, id=f"app.view.{v.name}")
            for v in VIEWS
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="The keys of this screen"),
        Binding(
            "ctrl+r",
            "renew",
            "Renew cert",
            show=False,
            id="app.renew",
            tooltip="Renew the certificate (second factor again)",
        ),
        Binding("q", "quit", "Quit", show=False, id="app.quit", tooltip="Quit suan"),
    ]

    def __init__(
        self,
        suan: SuanLike,
        *,
        keymap: Mapping[str, object] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.suan = suan
        self.clock: Callable[[], datetime] = clock or _now
        """Now, as an aware datetime; tests pass a fixed clock so ages are frozen."""
        self.views: tuple[View, ...] = VIEWS
        self.log_poll_seconds = 1.0
        """How often a followed log is polled for new data (SFTP has no notification)."""
        self.cert: CertLike | None = None
        self.logged_in = False
        self._renewal_offered = False
        raw = dict(keymap) if keymap is not None else dict(keymap_of(suan))
        self.user_keymap, self.keymap_problems = clean_keymap(raw, self.binding_ids())

    @property
    def refresh_seconds(self) -> float:
        """The profile's refresh interval."""
        return refresh_seconds(self.suan)

    @classmethod
    def binding_ids(cls) -> list[str]:
        """Every binding id a ``[keys]`` table may remap."""
        ids: list[str] = ids_of(cls.BINDINGS)
        # A view added to VIEWS brings its screen's bindings with it.
        view_classes = tuple(v.screen for v in VIEWS if isinstance(v.screen, type))
        for klass in (*KEYMAP_CLASSES, *view_classes):
            for base in klass.__mro__:
                ids.extend(ids_of(base.__dict__.get("BINDINGS", ())))
        return sorted(set(ids))

    # --- start and login -----------------------------------------------------------

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        for problem in self.keymap_problems:
            self.notify(problem, title="Config", severity="warning", markup=False)
        cert = self.suan.identity.status()
        if cert is None or self.cert_left(cert) <= timedelta(0):
            reason = "" if cert is None else "Your certificate has expired: log in again."
            self.push_screen(LoginScreen(reason=reason), self._after_login)
        else:
            self.cert = cert
            self._enter()
        # Checked once a minute so a long session is warned before the certificate ends.
        self.set_interval(60, self._check_expiry)

    def _after_login(self, cert: CertLike | None) -> None:
        if cert is None:
            return
        self.cert = cert
        self._renewal_offered = False
        if not self.logged_in:
            self._enter()
        self.refresh_headers()

    def _enter(self) -> None:
        self.logged_in = True
        self.switch_mode(VIEWS[0].name)
        self._check_expiry()

    def cert_left(self, cert: CertLike | None = None) -> timedelta:
        """Time left on the certificate (negative or zero when expired or absent)."""
        cert = cert if cert is not None else self.cert
        if cert is None:
            return timedelta(0)
        return cert.valid_before - self.clock()

    def cert_words(self) -> tuple[str, str] | None:
        """Header words about the certificate, with a style."""
        if not self.logged_in and self.cert is None:
            return None
        left = self.cert_left()
        if left <= timedelta(0):
            return ("cert expired · ctrl+r", "bold red")
        if left < RENEW_MARGIN:
            return (f"cert {fmt.remaining(left)} · ctrl+r", "bold yellow")
        return (f"cert {fmt.remaining(left)}", "dim")

    def _check_expiry(self) -> None:
        if not self.logged_in or self._renewal_offered:
            return
        left = self.cert_left()
        if left < RENEW_MARGIN:
            self._renewal_offered = True
            words = "has expired" if left <= timedelta(0) else f"expires in {fmt.remaining(left)}"
            self.notify(
                f"Your certificate {words}. Press ctrl+r to renew it.",
                title="Certificate",
                severity="warning",
                timeout=15,
            )
            self.refresh_headers()

    def action_renew(self) -> None:
        """Renew the certificate (the second factor is asked again)."""
        if any(isinstance(s, (LoginScreen, SecondFactorScreen)) for s in self.screen_stack):
            return
        self.push_screen(SecondFactorScreen(password=None), self._after_renew)

    def _after_renew(self, result: object) -> None:
        if result is None:
            self.notify("Renewal cancelled.", severity="warning")
        elif isinstance(result, NotLoggedIn):
            self.push_screen(LoginScreen(reason=result.message), self._after_login)
        elif isinstance(result, BaseException):
            self.report_error(result, doing="Renewing the certificate")
        else:
            self._after_login(result)  # type: ignore[arg-type]
            self.notify(
                f"Certificate renewed: {fmt.remaining(self.cert_left())} left.",
                title="Certificate",
            )

    def refresh_headers(self) -> None:
        """Redraw the header of every screen (certificate or read-only state changed)."""
        for header in self.screen.query(SuanHeader):
            header.update_header()

    # --- views, help, palette ------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "view":
            # No view before login, and none from inside a dialog.
            return self.logged_in and not isinstance(self.screen, ModalScreen)
        return True

    def action_view(self, name: str) -> None:
        """Switch to a view (its screen stack is kept as it was left)."""
        if self.logged_in:
            self.switch_mode(name)

    def action_help(self) -> None:
        """The keys of the current screen."""
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self._screen_title(screen), self.key_help(screen)))

    def _screen_title(self, screen: Screen[Any]) -> str:
        view = next((v for v in VIEWS if v.name == getattr(screen, "view_name", "")), None)
        name = type(screen).__name__.removesuffix("Screen")
        return f"{name} · view {view.key}" if view else name

    def key_help(self, screen: Screen[Any]) -> list[KeyHelp]:
        """The live bindings of ``screen`` (after remapping): the screen's own first,
        then the focused widget's, then the app's; one line per action."""
        by_action: dict[tuple[int, str], KeyHelp] = {}
        rank: dict[tuple[int, str], int] = {}
        own_ids = {
            b.id
            for cls in type(screen).__mro__
            if cls.__module__.startswith("tui.")
            for b in cls.__dict__.get("BINDINGS", ())
            if isinstance(b, Binding) and b.id
        }
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.system or not binding.description:
                continue
            ident = (id(active.node), binding.action)
            shown = self.get_key_display(Binding(key, binding.action))
            if active.node is self:
                owner, order = "app", 3
            elif active.node is screen:
                # Textual's own screen keys (focus, copy) after the screen's actions.
                owner, order = "screen", 0 if binding.id in own_ids else 2
            else:
                owner, order = type(active.node).__name__, 1
            words = binding.tooltip or binding.description
            if ident in by_action:
                prev = by_action[ident]
                by_action[ident] = KeyHelp(f"{prev.keys}, {shown}", prev.description, owner)
            else:
                by_action[ident] = KeyHelp(shown, words, owner)
                rank[ident] = order
        ordered = sorted(by_action, key=lambda i: rank[i])
        return [by_action[i] for i in ordered]

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for view in VIEWS:
            yield SystemCommand(
                f"View: {view.title}", f"Key {view.key}", partial(self.action_view, view.name)
            )
        yield SystemCommand("Help: keys of this screen", "Key ?", self.action_help)
        yield SystemCommand(
            "Renew certificate", "Ask the second factor again (ctrl+r)", self.action_renew
        )
        seen: set[tuple[int, str]] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            ident = (id(active.node), binding.action)
            if (
                ident in seen
                or binding.system
                or not binding.description
                or active.node is self
                or not active.enabled
            ):
                continue
            seen.add(ident)
            yield SystemCommand(
                f"{binding.description}",
                f"Key {key} · {type(active.node).__name__}",
                partial(self.run_action, binding.action, active.node),
            )
        yield from super().get_system_commands(screen)

    # --- refusals and errors -------------------------------------------------------

    def refuse_if_read_only(self, what: str) -> bool:
        """In read-only mode, say why ``what`` is refused and return True."""
        if not self.suan.read_only:
            return False
        self.bell()
        self.notify(
            f"Read-only mode: {what} is disabled (suan was started with --read-only).",
            title="Refused",
            severity="warning",
        )
        return True

    def report_error(self, error: BaseException, *, doing: str = "") -> None:
        """Word a failure for the user: the one place worker errors end up."""
        title = f"{doing} failed" if doing else "Error"
        if isinstance(error, NotLoggedIn):
            self.notify(error.message, title="Not logged in", severity="error", markup=False)
            if self.logged_in and not any(isinstance(s, LoginScreen) for s in self.screen_stack):
                self.push_screen(LoginScreen(reason=error.message), self._after_login)
            return
        if isinstance(error, Refused):
            self.notify(str(error), title="Refused", severity="warning", markup=False)
            return
        if isinstance(error, SuanError):
            self.notify(str(error), title=title, severity="error", markup=False, timeout=10)
            return
        self.log.error(f"{doing}: {error!r}")
        self.notify(
            f"{type(error).__name__}: {error}",
            title=f"{title} (unexpected)",
            severity="error",
            markup=False,
            timeout=10,
        )


def run(suan: SuanLike, *, keymap: Mapping[str, object] | None = None) -> None:
    """Run the TUI until the user quits, then close the facade on the same loop.

    The facade's SSH connections belong to the app's event loop, so they are closed
    before that loop ends.
    """

    async def main() -> None:
        app = SuanApp(suan, keymap=keymap)
        try:
            await app.run_async()
        finally:
            await suan.close()

    asyncio.run(main())
