-- POST /v1/embeddings with one input. See common.lua for the variables.
local common = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")

common.setup("/v1/embeddings", "text-embedding-3-small", function(model, tag)
  return '{"model":"' .. model .. '","input":"The capital of France is Paris. [' .. tag .. ']"}'
end)
