#!/usr/bin/python3
"""Proves the systemd unit's Type=notify: run beside a Redis (with-redis sets
INVQ_TEST_REDIS_URL), invq-worker must send READY=1 on $NOTIFY_SOCKET once it
runs, STOPPING=1 after SIGTERM, and exit 0.
usage: with-redis -- check_notify.py INVQ_WORKER
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile


def main():
    worker = sys.argv[1]
    url = os.environ.get("INVQ_TEST_REDIS_URL")
    if not url:
        sys.exit("run me under with-redis")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(15)
        env = dict(os.environ, NOTIFY_SOCKET=path, INVQ_QUEUE_URL=url, INVQ_HTTP_ADDR="off")
        proc = subprocess.Popen([worker], env=env)
        try:
            def expect(state):
                while True:
                    try:
                        msg = sock.recv(4096).decode()
                    except socket.timeout:
                        sys.exit(f"FAIL: no {state} on NOTIFY_SOCKET within 15 s")
                    if state in msg.split("\n"):
                        print(f"ok: got {state}")
                        return
            expect("READY=1")
            proc.send_signal(signal.SIGTERM)
            expect("STOPPING=1")
            rc = proc.wait(timeout=30)
            if rc != 0:
                sys.exit(f"FAIL: invq-worker exited {rc} after SIGTERM")
            print("ok: exit 0 after SIGTERM")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
