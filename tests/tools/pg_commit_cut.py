#!/usr/bin/env python3
# pg_commit_cut.py - a loopback TCP proxy in front of a PostgreSQL server
# that lets the first COMMIT through, waits for the server to report it
# done, and then cuts the client off before the answer reaches it: a
# commit whose outcome the client cannot know. Every other byte, and every
# later connection, passes through untouched.
# Usage: pg_commit_cut.py SERVER_PORT; prints its own port on stdout, then
# serves until killed. The client must not use TLS or GSS encryption
# (sslmode=disable&gssencmode=disable): the proxy reads the messages.
import socket
import struct
import sys
import threading

server_port = int(sys.argv[1])
state = {"armed": False, "fired": False}
lock = threading.Lock()


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def client_to_server(client, server):
    try:
        # The startup message has no type byte
        head = read_exact(client, 4)
        server.sendall(head + read_exact(client, struct.unpack("!I", head)[0] - 4))
        while True:
            head = read_exact(client, 5)
            body = read_exact(client, struct.unpack("!I", head[1:])[0] - 4)
            with lock:
                if head[:1] == b"Q" and body.startswith(b"COMMIT") and not state["fired"]:
                    state["armed"] = True
            server.sendall(head + body)
    except (EOFError, OSError):
        pass


def server_to_client(server, client):
    try:
        while True:
            head = read_exact(server, 5)
            body = read_exact(server, struct.unpack("!I", head[1:])[0] - 4)
            with lock:
                cut = state["armed"] and head[:1] == b"C" and body.startswith(b"COMMIT")
                if cut:
                    state["armed"], state["fired"] = False, True
            if cut:
                break  # the server committed; the client never hears it
            client.sendall(head + body)
    except (EOFError, OSError):
        pass
    for s in (client, server):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
while True:
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", server_port))
    threading.Thread(target=client_to_server, args=(client, server), daemon=True).start()
    threading.Thread(target=server_to_client, args=(server, client), daemon=True).start()
