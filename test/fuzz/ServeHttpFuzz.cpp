// ServeHttpFuzz.cpp - fuzzes the server's HTTP layer: raw bytes through BoundedHttpServer to the request parsers.
//
// An input is what a client sends on one connection (one request or several
// pipelined). It goes through a socketpair into serveSocket, the code every
// connection of `serve` runs: our stream (deadlines, byte budgets), httplib's
// request parsing and routing, the body reader (chunked, gzip, limits), the
// 404/405 routes, the JSON error handler, and the /api and /v1/completions
// parsers of serve-request (the model of ServeRequestFuzz.cpp). Generation is
// left out: a parsed request is answered 200 at once.
#include "cli/serve/BoundedHttpServer.h"
#include "FuzzServedModel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <thread>

namespace {

eert::BoundedHttpServer &makeServer(const eert::ServedModel &model) {
  eert::HttpLimits limits;
  // The client side is all sent before the server reads: deadlines only
  // matter for a response nobody reads, which the drain thread prevents.
  limits.requestTimeout = std::chrono::milliseconds(500);
  limits.writeTimeout = std::chrono::milliseconds(500);
  limits.idleTimeout = std::chrono::milliseconds(50);
  limits.maxBodyBytes = 16 << 10; // small enough for inputs to cross it
  auto *server = new eert::BoundedHttpServer(limits);
  auto route = [&model](auto parse) {
    return [&model, parse](const httplib::Request &req, httplib::Response &res,
                           const httplib::ContentReader &reader) {
      std::string body;
      if (!eert::BoundedHttpServer::readBodyOrReply(req, reader, body, res))
        return;
      try {
        parse(body, model);
        res.set_content("{}", "application/json");
      } catch (const eert::BadRequest &e) {
        eert::BoundedHttpServer::replyError(res, 400, e.what());
      }
    };
  };
  server->Put("/api", route(eert::parseApiRequest));
  server->Post("/v1/completions", route(eert::parseCompletionRequest));
  server->Get("/v1/models", [](const httplib::Request &, httplib::Response &res) {
    res.set_content("{}", "application/json");
  });
  server->finishRoutes({{"/api", "PUT"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"}});
  return *server;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const eert::ServedModel model = makeModel();
  static eert::BoundedHttpServer &server = makeServer(model);
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    return 0;
  int client = sockets[0];
  // The client writes the input and reads whatever comes back, so neither
  // side's socket buffer fills.
  std::thread writer([&] {
    for (size_t done = 0; done < size;) {
      ssize_t sent = ::send(client, data + done, size - done, MSG_NOSIGNAL);
      if (sent <= 0)
        break;
      done += static_cast<size_t>(sent);
    }
    ::shutdown(client, SHUT_WR);
  });
  std::thread reader([&] {
    char buffer[4096];
    while (::recv(client, buffer, sizeof(buffer), 0) > 0) {
    }
  });
  server.serveSocket(sockets[1]); // closes it
  writer.join();
  reader.join();
  ::close(client);
  return 0;
}
