-- GET of one URL (given on the wrk command line) with the headers a FHIR client sends.

wrk.method = "GET"
wrk.headers["Accept"] = "application/fhir+json"

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")
