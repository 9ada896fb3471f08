"""A real SMTP server (aiosmtpd) that keeps what it receives, and readers for captured email."""
import re
import time

from tests.support.app import free_port


class CapturedMail:
    """Messages received by the capture server."""

    def __init__(self):
        self.messages = []
        self.refusals: dict[str, str] = {}  # address -> the server's answer to RCPT TO

    def clear(self):
        """Forget what was received, and accept every address again."""
        self.messages.clear()
        self.refusals.clear()

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO for this address with `reply` (a 5xx permanent, a 4xx temporary refusal)."""
        self.refusals[address.lower()] = reply

    def wait_for(self, predicate, timeout: float = 15.0):
        """Wait until a message matching predicate arrives; return it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for message in list(self.messages):
                if predicate(message):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no matching email within {timeout}s; got {[m['Subject'] for m in self.messages]}")


def start_smtp_capture() -> CapturedMail:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    captured = CapturedMail()

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            reply = captured.refusals.get(address.lower())
            if reply:
                return reply
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            message.envelope_to = list(envelope.rcpt_tos)
            captured.messages.append(message)
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    captured.port = port
    captured.controller = controller
    return captured


def email_text(message) -> str:
    """The plain-text body of a captured email."""
    return message.get_body(preferencelist=("plain",)).get_content()


def first_link(message, contains: str) -> str:
    """The first URL in an email's text that contains `contains`."""
    for url in re.findall(r"https?://\S+", email_text(message)):
        if contains in url:
            return url
    raise AssertionError(f"no link containing {contains!r} in email")
