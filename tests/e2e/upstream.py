"""The app behind Envoy: answers every request with the path and headers it received."""

from servers import JsonHandler, LoopbackServer


class EchoApp(LoopbackServer):
    def start(self):
        class Handler(JsonHandler):
            def do_any(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {}
                for name, value in self.headers.items():
                    headers.setdefault(name.lower(), []).append(value)
                self.answer(200, {"method": self.command, "path": self.path, "headers": headers})

            do_GET = do_POST = do_PUT = do_DELETE = do_any

        return self.serve(Handler)
