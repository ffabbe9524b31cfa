-- wrk script of the intake benchmark: every request is a different person.
--
--   wrk -s bench/intake.lua URL -- MODE TAG [SECRET] [CSRF]
--
-- MODE is "form" (the public form: SECRET is the Cookie header of a visitor who loaded the
-- form, CSRF the form's token), "api" (JSON: SECRET is the bearer token) or "bare" (the
-- baseline endpoint, form-encoded). TAG makes the addresses of one run unique, so the
-- per-address rate limit and the duplicate check see as many people as there are requests.
-- At the end one line "WRK_RESULT {json}" gives the counts and latencies.

local first = { "Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Åsa", "Björn", "Elin",
                "Per", "Sofia", "Mikael", "Ingrid", "Göran", "Lena", "Nils" }
local last = { "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
               "Olsson", "Persson", "Svensson", "Gustafsson", "Pettersson", "Jönsson",
               "Lindström", "Åberg", "Öberg", "Bäckström", "Sjögren" }

local ascii = { ["Å"] = "a", ["Ä"] = "a", ["Ö"] = "o", ["å"] = "a", ["ä"] = "a", ["ö"] = "o" }

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function plain(s)
  s = s:gsub("[\195][\128-\191]", function(c) return ascii[c] or "x" end)
  return s:lower()
end

function init(args)
  mode = args[1]
  tag = args[2]
  secret = args[3]
  token = args[4]
  counter = 0
  wrk.method = "POST"
  if mode == "api" then
    wrk.headers["Authorization"] = "Bearer " .. secret
    wrk.headers["Content-Type"] = "application/json"
  else
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    if mode == "form" then
      wrk.headers["Cookie"] = secret
    end
  end
end

function request()
  counter = counter + 1
  local given = first[counter % #first + 1]
  local family = last[math.floor(counter / #first) % #last + 1]
  local name = given .. " " .. family
  local email = plain(given) .. "." .. plain(family) .. "." .. tag .. "-" .. thread_no .. "-"
                .. counter .. "@example.se"
  local body
  if mode == "api" then
    body = '{"right": "access", "language": "sv", "subject": {"name": "' .. name
           .. '", "email": "' .. email .. '"}}'
  elseif mode == "form" then
    body = "csrf_token=" .. urlencode(token) .. "&name=" .. urlencode(name) .. "&email="
           .. urlencode(email) .. "&personnummer=&phone=&website=&message="
  else
    body = "name=" .. urlencode(name) .. "&email=" .. urlencode(email)
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
