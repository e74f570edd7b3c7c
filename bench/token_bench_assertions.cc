// Writes what bench/token_bench.sh needs to load the token endpoint: a key folder registered
// with the sandbox, and a file of distinct, signed client assertions (one per line, each with
// its own jti, since the server refuses a replayed jti), for wrk to send once each.
//
// Usage: fhirbridge_token_bench_assertions TOKEN_URL CLIENT_ID COUNT OUT_FILE JWKS_OUT

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "jose/jose.h"

int main(int argc, char** argv) {
  using namespace fhirbridge;
  if (argc != 6) {
    std::cerr << "usage: " << argv[0] << " TOKEN_URL CLIENT_ID COUNT OUT_FILE JWKS_OUT\n";
    return 2;
  }
  const std::string token_url = argv[1];
  const std::string client_id = argv[2];
  const std::size_t count = std::stoul(argv[3]);
  auto key = jose::PrivateKey::Generate(jose::Algorithm::kRS384);
  if (!key) {
    std::cerr << key.error().ToString() << "\n";
    return 1;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();

  // RSA signing dominates; both cores share it.
  std::vector<std::string> assertions(count);
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned worker = 0; worker < workers; ++worker) {
    threads.emplace_back([&, worker] {
      for (std::size_t i = worker; i < count; i += workers) {
        const fhir::Json claims = {{"iss", client_id}, {"sub", client_id},
                                   {"aud", token_url}, {"exp", now + 280},
                                   {"iat", now},       {"jti", "bench-" + std::to_string(i)}};
        assertions[i] = *jose::SignJwt(claims, *key, jose::Algorithm::kRS384, {{"kid", "bench"}});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::ofstream out(argv[4]);
  for (const std::string& assertion : assertions) out << assertion << "\n";
  std::ofstream jwks(argv[5]);
  jwks << fhir::Json{{"keys", {key->Public().ToJwk("bench", jose::Algorithm::kRS384)}}}.dump();
  return 0;
}
