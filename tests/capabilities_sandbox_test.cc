// The capability matrix built from the real sandbox's CapabilityStatements, fetched over HTTP on
// loopback: two tenants at different build levels must give different matrices for the same
// scopes, with reasons naming the build level's gaps.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/capabilities.h"
#include "fhir/json.h"
#include "http/client.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

fhir::Json FetchMetadata(SandboxTestServer& sandbox, const std::string& tenant) {
  http::Client client;
  http::ClientRequest request;
  request.url = sandbox.origin() + "/" + tenant + "/api/FHIR/R4/metadata";
  request.headers = {{"Accept", "application/fhir+json"}};
  auto response = client.Send(request);
  EXPECT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  auto json = fhir::ParseJson(response->body);
  EXPECT_TRUE(json.has_value());
  return std::move(*json);
}

auth::CapabilityMatrix Build(const fhir::Json& statement) {
  auto matrix = auth::CapabilityMatrix::Build(
      smart::ParseScopes("system/Patient.rs system/Observation.cruds system/Procedure.rs"),
      &statement);
  EXPECT_TRUE(matrix.has_value()) << matrix.error().diagnostic;
  return std::move(*matrix);
}

TEST(CapabilitiesSandboxTest, BuildLevelsOfRealTenantsShapeTheMatrix) {
  SandboxTestServer sandbox;
  const auto older = Build(FetchMetadata(sandbox, "bayside-medical"));
  const auto open = Build(FetchMetadata(sandbox, "open-lab"));

  // Both allow reading and searching patients.
  for (const auto* matrix : {&older, &open}) {
    EXPECT_TRUE(matrix->Check("Patient", auth::Interaction::kRead).allowed);
    EXPECT_TRUE(matrix->Check("Patient", auth::Interaction::kSearch).allowed);
  }
  // The February 2021 level is read and search only; the open level creates and versions.
  EXPECT_EQ(older.Check("Observation", auth::Interaction::kCreate).reason,
            "the site's CapabilityStatement does not offer create on Observation");
  EXPECT_EQ(older.Check("Observation", auth::Interaction::kVread).reason,
            "the site's CapabilityStatement does not offer vread on Observation");
  EXPECT_TRUE(open.Check("Observation", auth::Interaction::kCreate).allowed);
  EXPECT_TRUE(open.Check("Observation", auth::Interaction::kVread).allowed);
  // Scopes still bound the open level.
  EXPECT_EQ(open.Check("Patient", auth::Interaction::kCreate).reason,
            "the site did not grant system/Patient.c");
  // A type the older level does not enable for the client is absent from its statement.
  EXPECT_FALSE(older.Check("Procedure", auth::Interaction::kRead).allowed);
  EXPECT_TRUE(open.Check("Procedure", auth::Interaction::kRead).allowed);
}

}  // namespace
}  // namespace fhirbridge::testing
