# workerd configuration for bench/js-python.sh: serves app.js (the js-http
# template's fetch-event handler, service-worker syntax) from the directory of
# this file. The socket's address is replaced at start-up (`--socket-fd
# http=FD`): the benchmark hands workerd a listening socket on a free loopback
# port.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .hello)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);

const hello :Workerd.Worker = (
  serviceWorkerScript = embed "app.js",
  compatibilityDate = "2024-09-23",
);
