-- POST of a small Patient to the URL given on the wrk command line ([base]/Patient).
-- Every request creates a new resource; the body is fixed so that wrk keeps its
-- pre-built request and the measurement is the server's cost, not the client's.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Accept"] = "application/fhir+json"
wrk.body = [[{"resourceType":"Patient","active":true,]] ..
    [["name":[{"use":"official","family":"Benchmark","given":["Wrk"]}],]] ..
    [["gender":"female","birthDate":"1980-04-01"}]]

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")
