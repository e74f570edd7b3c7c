#pragma once

// Sends one request with a bearer token from a TokenSource and recovers from one 401: the
// rejected token is invalidated, a new one obtained and the request retried exactly once. A
// second 401 is returned to the caller as it came (the site refuses this client, not just the
// token). Throttling and other retries belong to the traffic layer, which wraps this.

#include "auth/token_source.h"
#include "base/result.h"
#include "http/client.h"

namespace fhirbridge::auth {

// `request` must not carry an Authorization header. Fails as TokenSource::AccessToken or with
// the client's kIoFailure; otherwise returns the final response, whatever its status.
base::Result<http::ClientResponse> SendWithToken(http::Client& client, TokenSource& tokens,
                                                 http::ClientRequest request);

}  // namespace fhirbridge::auth
