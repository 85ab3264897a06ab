-- wrk script of benches/callback.rs: replays prepared, signed pushes from a file, each once.
--
--   wrk -t T -c C -d D --latency -s benches/callback.lua URL -- REQUESTS_FILE T
--
-- Each line of REQUESTS_FILE is "<path?signed query>\t<XML body>". Thread k of T sends lines
-- k, k+T, k+2T, ... and starts over when its share runs out (counted as `repeated`: those
-- pushes are then WeChat-style retries, so the caller prepares more than a phase needs).
-- The figures go to stdout as one `RESULT key=value ...` line for the caller to parse.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, count = args[1], tonumber(args[2])
  local headers = { ["Content-Type"] = "text/xml" }
  prepared, line_no = {}, 0
  for line in io.lines(file) do
    if line_no % count == id then
      local tab = line:find("\t", 1, true)
      prepared[#prepared + 1] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
    end
    line_no = line_no + 1
  end
  if #prepared == 0 then
    error("no requests for thread " .. id .. " in " .. file)
  end
  size, sent = #prepared, 0
end

function request()
  sent = sent + 1
  return prepared[(sent - 1) % size + 1]
end

function done(summary, latency, requests)
  local repeated = 0
  for _, thread in ipairs(threads) do
    repeated = repeated + math.max(0, (thread:get("sent") or 0) - (thread:get("size") or 0))
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d errors=%d status_errors=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d repeated=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, repeated))
end
