"""Pieces every screen shares: the header, the footer, worker errors, the refresh timer.

A :class:`SuanScreen` composes the one-line header (views, user, certificate, READ-ONLY),
its body and the footer of keys. Worker failures of every screen end up in
``SuanApp.report_error`` (one place); a :class:`Refreshing` screen polls with a one-shot
timer re-armed after each refresh, paused while the screen is hidden, and shows the age
of its data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from tui import format as fmt

if TYPE_CHECKING:
    from tui.app import SuanApp
    from tui.facade import SuanLike

ResultT = TypeVar("ResultT")

REFRESH_GROUP = "refresh"
"""The worker group of a screen's refresh worker (exclusive per screen)."""


class SuanInput(Input):
    """An Input whose cursor does not blink under tests (snapshots stay deterministic)."""

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False


class SuanHeader(Static):
    """One line: app, view keys (current one highlighted), user, certificate, READ-ONLY."""

    DEFAULT_CSS = """
    SuanHeader { dock: top; height: 1; background: $panel; color: $text; }
    """

    def __init__(self, view: str = "") -> None:
        super().__init__(id="suan-header")
        self.view = view

    def on_mount(self) -> None:
        self.update_header()
        # The certificate's time left changes slowly: a coarse interval is enough.
        self.set_interval(30, self.update_header)

    def update_header(self) -> None:
        """Redraw from the app's current state, fitting the width.

        When everything does not fit, the other views shrink to their keys first and the
        username goes next: the READ-ONLY marker and the certificate always stay.
        """
        app = cast("SuanApp", self.app)
        width = max(0, self.size.width or app.size.width)
        right = Text()
        cert_words = app.cert_words()
        if cert_words:
            right.append(cert_words[0], style=cert_words[1])
        if app.suan.read_only:
            right.append(" ")
            right.append(" READ-ONLY ", style="bold reverse red")
        right.append(" ")
        user = Text(app.suan.profile.username + (" · " if cert_words else ""))
        line = Text()
        for compact, with_user in ((False, True), (True, True), (True, False)):
            left = self._views(app, compact=compact)
            right_side = Text.assemble(user, right) if with_user else right
            gap = width - left.cell_len - right_side.cell_len
            line = Text.assemble(left, " " * max(1, gap), right_side)
            if gap >= 1:
                break
        line.truncate(width or line.cell_len)
        self.update(line)

    def _views(self, app: SuanApp, *, compact: bool) -> Text:
        left = Text()
        left.append(" 算 suan ", style="bold reverse")
        for view in app.views:
            current = view.name == self.view
            left.append(" ")
            label = f"{view.key} {view.title}" if current or not compact else view.key
            left.append(label, style="bold reverse" if current else "dim")
        return left

    def on_resize(self, event: events.Resize) -> None:
        self.update_header()


class SuanScreen(Screen[ResultT]):
    """Base of every full screen: header, body, footer; worker errors reported in one place."""

    VIEW: ClassVar[str] = ""
    """The view name this screen belongs to (highlighted in the header)."""

    def __init__(self, *, view: str | None = None) -> None:
        super().__init__()
        self.view_name = view if view is not None else self.VIEW
        """The view highlighted in the header (a pushed screen keeps its view's name)."""

    @property
    def suan_app(self) -> SuanApp:
        """The app, typed."""
        return cast("SuanApp", self.app)

    @property
    def suan(self) -> SuanLike:
        """The facade."""
        return self.suan_app.suan

    def now(self) -> datetime:
        """The app's clock (fixed in tests)."""
        return self.suan_app.clock()

    def compose(self) -> ComposeResult:
        yield SuanHeader(self.view_name)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        """The screen's own widgets, between header and footer."""
        return ()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.worker_failed(event.worker, event.worker.error)

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        """A worker of this screen failed: the app words it. Screens may add more."""
        self.suan_app.report_error(error, doing=worker.description or worker.name)


class SuanModal(ModalScreen[ResultT]):
    """Base of dialogs: worker errors go to the app, like full screens."""

    @property
    def suan_app(self) -> SuanApp:
        """The app, typed."""
        return cast("SuanApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.suan_app.report_error(event.worker.error, doing=event.worker.name)


class Refreshing(SuanScreen[None]):
    """A screen that polls: one-shot timer re-armed after each refresh, paused while hidden.

    Subclasses implement :meth:`start_refresh` (start their exclusive worker) and call
    :meth:`refreshed` when data arrives and :meth:`refresh_failed` when it does not, so
    the next refresh is scheduled only after the previous one ended: refreshes never
    overlap however slow the cluster is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loaded_at: datetime | None = None
        self._timer: Timer | None = None
        self._hidden = False
        self._loading = False

    @property
    def interval(self) -> float:
        """Seconds between refreshes (the profile's ``refresh_seconds``)."""
        return self.suan_app.refresh_seconds

    def on_mount(self) -> None:
        self.refresh_now()
        # The age text ("updated 3 s ago") moves once a second; no I/O happens here.
        self.set_interval(1.0, self.update_status)

    def refresh_now(self) -> None:
        """Refresh at once (cancels the pending timer)."""
        self._cancel_timer()
        self._loading = True
        self.update_status()
        self.start_refresh()

    def start_refresh(self) -> None:
        """Start the worker that fetches this screen's data."""
        raise NotImplementedError

    def refreshed(self, at: datetime) -> None:
        """Data arrived: remember when, show it, arm the next refresh."""
        self.loaded_at = at
        self._loading = False
        self.update_status()
        self._arm()

    def refresh_failed(self) -> None:
        """The refresh failed (the error is already reported): try again later."""
        self._loading = False
        self.update_status()
        self._arm()

    def _arm(self) -> None:
        self._cancel_timer()
        if not self._hidden:
            self._timer = self.set_timer(self.interval, self.refresh_now, name="refresh")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        self._hidden = True
        self._cancel_timer()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        was_hidden = self._hidden
        self._hidden = False
        if not was_hidden or self._loading:
            return
        if self.data_age() >= self.interval:
            self.refresh_now()
        else:
            self._arm()

    def data_age(self) -> float:
        """Seconds since the data was fetched (infinite before the first fetch)."""
        if self.loaded_at is None:
            return float("inf")
        return (self.now() - self.loaded_at).total_seconds()

    def age_text(self) -> str:
        """``updated 3 s ago``, ``loading…`` or ``paused``."""
        if self.loaded_at is None:
            return "loading…"
        words = f"updated {fmt.age(self.data_age())}"
        if self._loading:
            words += " · refreshing…"
        return words

    def update_status(self) -> None:
        """Redraw the status line (subclasses show counts and the age)."""

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        super().worker_failed(worker, error)
        if worker.group == REFRESH_GROUP:
            self.refresh_failed()
