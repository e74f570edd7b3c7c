#include "auth/authorized_request.h"

#include "observe/log.h"

namespace fhirbridge::auth {

base::Result<http::ClientResponse> SendWithToken(http::Client& client, TokenSource& tokens,
                                                 http::ClientRequest request) {
  request.headers.push_back({"Authorization", ""});
  for (int attempt = 0;; ++attempt) {
    auto token = tokens.AccessToken();
    if (!token) return base::Fail(token.error());
    request.headers.back().value = "Bearer " + *token;
    auto response = client.Send(request);
    if (!response || response->status != 401 || attempt == 1) return response;

    observe::LogEvent event;
    event.event = "auth.token.rejected";
    event.subsystem = "auth";
    event.message = "The site answered 401; renewing the token and retrying once.";
    observe::Log(event);
    tokens.Invalidate(*token);
  }
}

}  // namespace fhirbridge::auth
