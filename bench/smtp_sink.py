"""An SMTP server that accepts and discards every message: the far end of bench/fanout.py.

    python bench/smtp_sink.py PORT
"""

import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


if __name__ == "__main__":
    controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()
