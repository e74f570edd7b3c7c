-- Pages through searches by their next links: each connection starts the search of a random
-- patient of the benchmark tenant ([base]/Observation?patient=...&category=vital-signs
-- &_count=50) and follows the next link of every answer until the last page. Counts the match
-- entries received, so that the report can give resources per second.

local patients = tonumber(os.getenv("BENCH_PATIENTS") or "1")
local base_path
local pending = {}   -- next links received and not requested yet
local resources = 0  -- match entries received by this thread

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(54321 + (tonumber(tostring(wrk.thread):match("0x(%x+)"), 16) or 0) % 1000)
  base_path = wrk.path
end

function request()
  local path = table.remove(pending)
  if path == nil then
    path = base_path .. "/Observation?patient=bench-patient-" .. math.random(1, patients) ..
        "&category=vital-signs&_count=50"
  end
  return wrk.format("GET", path, {["Accept"] = "application/fhir+json"})
end

function response(status, headers, body)
  if status ~= 200 then return end
  -- Plain finds: counting with gsub would copy every page.
  local at = 1
  while true do
    at = string.find(body, '"mode":"match"', at, true)
    if at == nil then break end
    resources = resources + 1
    at = at + 14
  end
  -- The links come before the entries, so the next link is near the start of the page.
  local next_url = string.match(string.sub(body, 1, 4096), '"relation":"next","url":"([^"]+)"')
  if next_url ~= nil then
    -- The link is absolute; wrk sends the path and query to the host it already connects to.
    table.insert(pending, (next_url:gsub("^https?://[^/]+", "")))
  end
  wrk.thread:set("resources", resources)
end

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")

local report_requests = done
function done(summary, latency, requests)
  report_requests(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads or {}) do
    total = total + (thread:get("resources") or 0)
  end
  io.write(string.format('BENCH_RESOURCES {"resources":%d,"resources_per_second":%.1f}\n', total,
      total / (summary.duration / 1e6)))
end
