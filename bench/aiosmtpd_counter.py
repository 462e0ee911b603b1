"""A counting SMTP sink on 127.0.0.1:PORT (aiosmtpd), printing "mesg=N" like Postfix's smtp-sink -c."""

import asyncio
import signal
import sys

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.messages = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        if self.messages % 1000 == 0:
            print(f"mesg={self.messages}", flush=True)
        return "250 OK"


def main() -> None:
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    print(f"mesg={counter.messages}", flush=True)


if __name__ == "__main__":
    main()
