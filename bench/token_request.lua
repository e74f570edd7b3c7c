-- Sends each pre-signed client assertion once (the server refuses a replayed jti), as a
-- form-encoded client_credentials request. ASSERTIONS names the file, one assertion a line.
-- Run with one wrk thread: each thread would otherwise send the same assertions.
local assertions = {}
local next_index = 1

for line in io.lines(os.getenv("ASSERTIONS")) do
  assertions[#assertions + 1] = line
end

function request()
  -- Past the end, assertions repeat: the server refuses the replays and wrk counts them as
  -- errors, so a run that outlasts the file cannot pass unnoticed.
  local assertion = assertions[(next_index - 1) % #assertions + 1]
  next_index = next_index + 1
  local body = "grant_type=client_credentials&client_assertion_type=" ..
      "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" ..
      assertion
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")
