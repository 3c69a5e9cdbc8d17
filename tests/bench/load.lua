-- wrk script: POST the report body given as the first argument, with a fresh report id per
-- request (intake is idempotent on the id: a repeated id would measure the cheap repeat path).
-- Usage: wrk ... -s load.lua URL -- BODY_FILE TOKEN
local body_template
local token

function init(args)
  local file = assert(io.open(args[1], "r"))
  body_template = file:read("*a")
  file:close()
  token = args[2]
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (template:gsub("[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

function request()
  local body = body_template:gsub("REPORT_ID", uuid4())
  return wrk.format("POST", "/v1/reports", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
