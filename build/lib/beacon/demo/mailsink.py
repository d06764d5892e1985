"""A local SMTP sink for the demo: a real SMTP server on loopback writing a Maildir."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailSink:
    """aiosmtpd on 127.0.0.1, delivering every message into ``directory`` (a Maildir)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self._controller = Controller(Mailbox(directory), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        # aiosmtpd logs every SMTP command at INFO: the demo's console is for the instructions
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
