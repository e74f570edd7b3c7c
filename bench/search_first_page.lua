-- GET of the first page of an Epic-style search, for a different patient of the benchmark tenant
-- on each request: [base]/Observation?patient=bench-patient-N&category=vital-signs&_count=50.
-- The URL on the wrk command line is the tenant's FHIR base; BENCH_PATIENTS is how many
-- patients the store holds.

local patients = tonumber(os.getenv("BENCH_PATIENTS") or "1")
local base_path

function init(args)
  math.randomseed(12345 + (tonumber(tostring(wrk.thread):match("0x(%x+)"), 16) or 0) % 1000)
  base_path = wrk.path
end

function request()
  local patient = math.random(1, patients)
  return wrk.format("GET", base_path .. "/Observation?patient=bench-patient-" .. patient ..
      "&category=vital-signs&_count=50", {["Accept"] = "application/fhir+json"})
end

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")
