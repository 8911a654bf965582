#!lua name=jobd
--
-- jobd.lua: the Redis function library of jobd.  Every job state change is
-- one FCALL of one of these functions, so it is atomic across any number of
-- daemons sharing the Redis.  Key schema and state machine:
-- docs/architecture.md, "Redis key schema and state machine".
--
-- Calling convention of every function:
--   KEYS[1] = '<prefix>:{<ns>}:meta' (the one declared key: it fixes the slot)
--   ARGV[1] = '<prefix>:{<ns>}:'     (all other keys are built from it)
--   ARGV[2] = configured result_ttl (s), ARGV[3] = failure_ttl (s): used to
--             trim the terminal indexes by score
--   ARGV[4..] the function's own arguments.
-- Errors are returned (never raised) as 'CODE <job_id|-> <message>' with
-- CODE one of NOT_FOUND, CONFLICT, LOST, BAD_REQUEST, and always before the
-- first write: functions do not roll back.
--
-- All times are Unix milliseconds of the Redis clock (TIME).

local PROMOTE_MAX = 100     -- due scheduled jobs moved per call
local ERRORS_KEPT = 5       -- error history of a job
local ERROR_MAX = 4096      -- bytes of one error text kept
local SKIP_MAX = 16         -- stale queue entries skipped per queue
local LIST_SCAN_MAX = 20000 -- ids examined by a list with a type filter
local HOSTS_MAX = 1000      -- hosts reported by stats

local TERMINAL = { finished = true, failed = true, canceled = true }
local STATUSES = { 'started', 'queued', 'scheduled', 'finished', 'failed',
                   'canceled' }
local VALID_STATUS = { queued = true, scheduled = true, started = true,
                       finished = true, failed = true, canceled = true }

-- Fields returned by list (no payload, no result: pages stay small).
local LIST_FIELDS = { 'id', 'type', 'queue', 'status', 'created_at',
	'enqueued_at', 'started_at', 'ended_at', 'run_at', 'timeout_ms',
	'attempts', 'max_retries', 'progress', 'owner', 'meta', 'error',
	'errors', 'unique_key', 'lost', 'cancel' }

local function err(code, id, msg)
	return redis.error_reply(code .. ' ' .. (id or '-') .. ' ' .. msg)
end

local function context(keys, args)
	local t = redis.call('TIME')
	local K = args[1]
	return {
		K = K,
		meta = keys[1],
		rttl = tonumber(args[2]) or 0,
		fttl = tonumber(args[3]) or 0,
		now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000),
		wake = false,
	}
end

local function jkey(c, id) return c.K .. 'job:' .. id end
local function qkey(c, q) return c.K .. 'q:' .. q end
local function ikey(c, status, q)
	if q then return c.K .. 'i:' .. status .. ':' .. q end
	return c.K .. 'i:' .. status
end

-- Publish on the namespace's event channel.
local function publish(c, msg)
	redis.call('PUBLISH', c.K .. 'events', msg)
end

-- The lowest-scored entry goes first: new jobs take an increasing
-- sequence, jobs put back in front a decreasing negative one.
local function enqueue(c, id, q, front, fields)
	local score
	if front then
		score = redis.call('HINCRBY', c.meta, 'front', -1)
	else
		score = redis.call('HINCRBY', c.meta, 'seq', 1)
	end
	redis.call('ZADD', qkey(c, q), score, id)
	fields = fields or {}
	fields[#fields + 1] = 'status'
	fields[#fields + 1] = 'queued'
	fields[#fields + 1] = 'enqueued_at'
	fields[#fields + 1] = c.now
	redis.call('HSET', jkey(c, id), unpack(fields))
	-- Workers skip a paused queue: waking one for it is wasted work.
	if not c.wake and redis.call('SISMEMBER', c.K .. 'paused', q) == 0 then
		c.wake = true
	end
end

local function schedule(c, id, q, at, fields)
	fields = fields or {}
	fields[#fields + 1] = 'status'
	fields[#fields + 1] = 'scheduled'
	fields[#fields + 1] = 'run_at'
	fields[#fields + 1] = at
	redis.call('HSET', jkey(c, id), unpack(fields))
	redis.call('ZADD', c.K .. 'scheduled', at, id)
	redis.call('ZADD', ikey(c, 'scheduled', q), at, id)
end

-- Arm the wake marker that idle workers BZPOPMIN on.
local function arm(c)
	if c.wake then
		redis.call('ZADD', c.K .. 'wake', 0, 'w')
	end
end

-- Drop a job that is done being "started" from the lease indexes.  The
-- token field is left: leaving "started" is what fences its holder (every
-- token check also wants status started), and the next dequeue replaces it.
local function unstart(c, id, q)
	redis.call('ZREM', c.K .. 'active', id)
	redis.call('ZREM', ikey(c, 'started', q), id)
end

local function trim(c, key, ttl)
	if ttl > 0 then
		redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (c.now - ttl * 1000))
	end
end

-- Release the job's unique key if it still holds it.
local function release_unique(c, id, ukey)
	if ukey and ukey ~= '' then
		local k = c.K .. 'unique:' .. ukey
		if redis.call('GET', k) == id then
			redis.call('DEL', k)
		end
	end
end

-- Move a job to a terminal status: index, TTL, unique key, end event.
-- f: the job's {unique_key, result_ttl, failure_ttl} if already read.
local function finalize(c, id, status, q, extra, f)
	local jk = jkey(c, id)
	extra = extra or {}
	extra[#extra + 1] = 'status'
	extra[#extra + 1] = status
	extra[#extra + 1] = 'ended_at'
	extra[#extra + 1] = c.now
	redis.call('HSET', jk, unpack(extra))
	f = f or redis.call('HMGET', jk, 'unique_key', 'result_ttl',
	                    'failure_ttl')
	local ttl, cttl
	if status == 'finished' then
		ttl, cttl = tonumber(f[2]) or c.rttl, c.rttl
	else
		ttl, cttl = tonumber(f[3]) or c.fttl, c.fttl
	end
	if ttl > 0 then
		redis.call('EXPIRE', jk, ttl)
	else
		redis.call('PERSIST', jk)
	end
	local qi, gi = ikey(c, status, q), ikey(c, status)
	redis.call('ZADD', qi, c.now, id)
	redis.call('ZADD', gi, c.now, id)
	trim(c, qi, cttl)
	trim(c, gi, cttl)
	release_unique(c, id, f[1])
	publish(c, 'end ' .. id .. ' ' .. status)
end

-- Append one entry to the job's error history (last ERRORS_KEPT).
local function add_error(c, id, attempt, text)
	local jk = jkey(c, id)
	text = string.sub(text or '', 1, ERROR_MAX)
	local hist = {}
	local old = redis.call('HGET', jk, 'errors')
	if old then
		local ok, v = pcall(cjson.decode, old)
		if ok and type(v) == 'table' then hist = v end
	end
	hist[#hist + 1] = { attempt = tonumber(attempt) or 0, error = text,
	                    at = c.now }
	while #hist > ERRORS_KEPT do table.remove(hist, 1) end
	redis.call('HSET', jk, 'error', text, 'errors', cjson.encode(hist))
end

-- Move due scheduled jobs (at most max) to the back of their queues.
local function promote(c, max)
	local sk = c.K .. 'scheduled'
	local due = redis.call('ZRANGEBYSCORE', sk, '-inf', c.now, 'LIMIT', 0, max)
	for _, id in ipairs(due) do
		redis.call('ZREM', sk, id)
		local f = redis.call('HMGET', jkey(c, id), 'status', 'queue')
		if f[1] == 'scheduled' then
			redis.call('ZREM', ikey(c, 'scheduled', f[2]), id)
			redis.call('HDEL', jkey(c, id), 'run_at')
			enqueue(c, id, f[2], false)
		end
	end
	return #due
end

local function set_of(list)
	local s = {}
	for _, v in ipairs(list) do s[v] = true end
	return s
end

-- Take the next job for owner: the oldest of the first non-empty,
-- non-paused queue in priority order.  Returns the job's fields (HGETALL)
-- or the ms until the next scheduled job is due (-1: none scheduled).
local function take(c, owner, lease_ms, queues)
	promote(c, PROMOTE_MAX)
	local paused = set_of(redis.call('SMEMBERS', c.K .. 'paused'))
	for _, q in ipairs(queues) do
		if not paused[q] then
			local qk = qkey(c, q)
			for _ = 1, SKIP_MAX do
				local r = redis.call('ZPOPMIN', qk)
				if #r == 0 then break end
				local id = r[1]
				local jk = jkey(c, id)
				local f = redis.call('HMGET', jk, 'status', 'attempts')
				if f[1] == 'queued' then
					-- The queue score is unique per enqueue, so it makes a
					-- unique lease token.  Queued jobs have no TTL and no
					-- ended_at (requeue clears them).
					local token = r[2]
					local deadline = c.now + lease_ms
					redis.call('HSET', jk, 'status', 'started',
						'attempts', (tonumber(f[2]) or 0) + 1,
						'started_at', c.now, 'token', token, 'owner', owner,
						'lease_until', deadline)
					redis.call('ZADD', c.K .. 'active', deadline, id)
					redis.call('ZADD', ikey(c, 'started', q), c.now, id)
					-- Chain the wake-up to the next idle worker.
					local more = redis.call('ZCARD', qk) > 0
					for _, q2 in ipairs(queues) do
						if more then break end
						if q2 ~= q and not paused[q2] then
							more = redis.call('ZCARD', qkey(c, q2)) > 0
						end
					end
					if more then
						redis.call('ZADD', c.K .. 'wake', 0, 'w')
					end
					return redis.call('HGETALL', jk)
				end
			end
		end
	end
	local nxt = redis.call('ZRANGE', c.K .. 'scheduled', 0, 0, 'WITHSCORES')
	if #nxt == 0 then return -1 end
	local w = tonumber(nxt[2]) - c.now
	if w < 0 then w = 0 end
	return w
end

-- The optional "and take the next job" tail of finish and fail:
-- ARGV[i] = '1'|'0', then owner, lease_ms, nqueues, queues...
local function take_args(args, i)
	if args[i] ~= '1' then return nil end
	local owner, lease = args[i + 1], tonumber(args[i + 2])
	local n = tonumber(args[i + 3]) or 0
	local queues = {}
	for k = 1, n do queues[k] = args[i + 3 + k] end
	return owner, lease, queues
end

---------------------------------------------------------------------------
-- submit: ARGV[4] = n, then n groups of 12 fields:
--   id type queue payload meta timeout_ms max_retries unique_key delay_ms
--   run_at_ms result_ttl failure_ttl
-- ('' unique_key: none; delay_ms > 0 or run_at_ms > 0 schedules).
-- All or nothing.  Returns {id, status, id, status, ...}.
local NF = 12
local function submit(keys, args)
	local c = context(keys, args)
	local n = tonumber(args[4])
	if not n or n < 1 or #args ~= 4 + n * NF then
		return err('BAD_REQUEST', nil, 'submit: bad argument count')
	end
	-- Every conflict is found before the first write.
	local ids, uniq = {}, {}
	for j = 0, n - 1 do
		local b = 5 + j * NF
		local id, ukey = args[b], args[b + 7]
		if ids[id] or redis.call('EXISTS', jkey(c, id)) == 1 then
			return err('CONFLICT', id, 'job id already used')
		end
		ids[id] = true
		if ukey ~= '' then
			if uniq[ukey] then
				return err('CONFLICT', uniq[ukey], 'unique key held')
			end
			local holder = redis.call('GET', c.K .. 'unique:' .. ukey)
			if holder then
				local st = redis.call('HGET', jkey(c, holder), 'status')
				if st and not TERMINAL[st] then
					return err('CONFLICT', holder, 'unique key held')
				end
			end
			uniq[ukey] = id
		end
	end
	local out, known = {}, {}
	for j = 0, n - 1 do
		local b = 5 + j * NF
		local id, q, ukey = args[b], args[b + 2], args[b + 7]
		local delay, run_at = tonumber(args[b + 8]) or 0,
		                      tonumber(args[b + 9]) or 0
		local fields = { 'id', id, 'type', args[b + 1], 'queue', q,
			'payload', args[b + 3], 'meta', args[b + 4],
			'timeout_ms', args[b + 5], 'max_retries', args[b + 6],
			'attempts', 0, 'lost', 0, 'created_at', c.now,
			'result_ttl', args[b + 10], 'failure_ttl', args[b + 11] }
		if ukey ~= '' then
			fields[#fields + 1] = 'unique_key'
			fields[#fields + 1] = ukey
			redis.call('SET', c.K .. 'unique:' .. ukey, id)
		end
		if not known[q] then
			redis.call('SADD', c.K .. 'queues', q)
			known[q] = true
		end
		local at = 0
		if delay > 0 then at = c.now + delay end
		if run_at > 0 then at = run_at end
		out[#out + 1] = id
		if at > c.now then
			schedule(c, id, q, at, fields)
			out[#out + 1] = 'scheduled'
		else
			enqueue(c, id, q, false, fields)
			out[#out + 1] = 'queued'
		end
	end
	arm(c)
	return out
end

-- dequeue: ARGV[4] owner, [5] lease_ms, [6] nqueues, [7..] queues in
-- priority order.  Returns the job's fields or the ms to wait.
local function dequeue(keys, args)
	local c = context(keys, args)
	local n = tonumber(args[6]) or 0
	local queues = {}
	for k = 1, n do queues[k] = args[6 + k] end
	local r = take(c, args[4], tonumber(args[5]) or 30000, queues)
	arm(c)
	return r
end

-- The lease check of finish, fail and progress: the job's fields, or nil
-- when the token no longer holds it (reaped, canceled, finished).
local function held(c, id, token)
	local f = redis.call('HMGET', jkey(c, id), 'status', 'token', 'queue',
		'attempts', 'max_retries', 'cancel', 'unique_key', 'result_ttl',
		'failure_ttl')
	if f[1] ~= 'started' or f[2] ~= token then return nil end
	return f
end

-- finish: ARGV[4] id, [5] token, [6] result (JSON), then the take tail
-- at [7].  Returns {'finished'|'lost', next job or wait ms or -1}.
local function finish(keys, args)
	local c = context(keys, args)
	local id = args[4]
	local out = 'lost'
	local f = held(c, id, args[5])
	if f then
		unstart(c, id, f[3])
		finalize(c, id, 'finished', f[3], { 'result', args[6] },
		         { f[7], f[8], f[9] })
		out = 'finished'
	end
	local owner, lease, queues = take_args(args, 7)
	local nxt = -1
	if owner then nxt = take(c, owner, lease, queues) end
	arm(c)
	return { out, nxt }
end

-- fail: ARGV[4] id, [5] token, [6] error, [7] mode 'fail'|'final'|'requeue',
-- [8] retry delay ms, then the take tail at [9].  Returns {outcome, next}
-- with outcome 'scheduled', 'failed', 'canceled', 'queued' or 'lost'.
local function fail(keys, args)
	local c = context(keys, args)
	local id, text, mode = args[4], args[6], args[7]
	local out = 'lost'
	local f = held(c, id, args[5])
	if f then
		local q, attempts = f[3], tonumber(f[4]) or 0
		local maxr = tonumber(f[5]) or 0
		unstart(c, id, q)
		if f[6] == '1' then
			if text ~= '' then add_error(c, id, attempts, text) end
			finalize(c, id, 'canceled', q, nil, { f[7], f[8], f[9] })
			out = 'canceled'
		elseif mode == 'requeue' then
			-- Not the job's fault (shutdown): the attempt does not count.
			redis.call('HDEL', jkey(c, id), 'token', 'lease_until')
			enqueue(c, id, q, true, { 'attempts', math.max(attempts - 1, 0) })
			out = 'queued'
		else
			add_error(c, id, attempts, text)
			if mode ~= 'final' and attempts < maxr + 1 then
				local delay = tonumber(args[8]) or 0
				if delay < 0 then delay = 0 end
				schedule(c, id, q, c.now + delay)
				out = 'scheduled'
			else
				finalize(c, id, 'failed', q, nil, { f[7], f[8], f[9] })
				out = 'failed'
			end
		end
	end
	local owner, lease, queues = take_args(args, 9)
	local nxt = -1
	if owner then nxt = take(c, owner, lease, queues) end
	arm(c)
	return { out, nxt }
end

-- release: ARGV[4] owner ("host:pid"), [5] error.  A worker died before
-- its master learnt which job it had taken: the jobs still started under
-- that owner are failed (or retried) now, as its master would have, instead
-- of when their lease runs out.  Looks at most 1000 running jobs.  Returns
-- the ids.
local function release(keys, args)
	local c = context(keys, args)
	local owner, text = args[4], args[5]
	local ids = redis.call('ZRANGE', c.K .. 'active', 0, 999)
	local done = {}
	for _, id in ipairs(ids) do
		local f = redis.call('HMGET', jkey(c, id), 'owner', 'token', 'status')
		if f[1] == owner and f[3] == 'started' and f[2] then
			fail(keys, { args[1], args[2], args[3], id, f[2], text, 'fail',
			             '0' })
			done[#done + 1] = id
		end
	end
	return done
end

-- cancel: ARGV[4] id.  Returns {status after, status before, owner}.
local function cancel(keys, args)
	local c = context(keys, args)
	local id = args[4]
	local jk = jkey(c, id)
	local f = redis.call('HMGET', jk, 'status', 'queue', 'owner')
	local st, q = f[1], f[2]
	if not st then return err('NOT_FOUND', id, 'no such job') end
	if TERMINAL[st] then
		return err('CONFLICT', id, 'job is already ' .. st)
	end
	if st == 'started' then
		redis.call('HSET', jk, 'cancel', 1)
		publish(c, 'cancel ' .. id .. ' ' .. (f[3] or '-'))
		return { 'started', 'started', f[3] or '' }
	end
	if st == 'queued' then
		redis.call('ZREM', qkey(c, q), id)
	else
		redis.call('ZREM', c.K .. 'scheduled', id)
		redis.call('ZREM', ikey(c, 'scheduled', q), id)
	end
	finalize(c, id, 'canceled', q)
	return { 'canceled', st, '' }
end

-- Put one failed or canceled job back at the end of its queue.  Returns
-- nil on success, else an error reply (strict) or false (skip).
local function requeue_one(c, id, strict)
	local jk = jkey(c, id)
	local f = redis.call('HMGET', jk, 'status', 'queue', 'unique_key')
	local st, q, ukey = f[1], f[2], f[3]
	if not st then
		if strict then return err('NOT_FOUND', id, 'no such job') end
		return false
	end
	if st ~= 'failed' and st ~= 'canceled' then
		if strict then
			return err('CONFLICT', id, 'job is ' .. st ..
			           ', only failed or canceled jobs can be requeued')
		end
		return false
	end
	if ukey and ukey ~= '' then
		local holder = redis.call('GET', c.K .. 'unique:' .. ukey)
		if holder and holder ~= id then
			local hs = redis.call('HGET', jkey(c, holder), 'status')
			if hs and not TERMINAL[hs] then
				if strict then
					return err('CONFLICT', holder, 'unique key held')
				end
				return false
			end
		end
		redis.call('SET', c.K .. 'unique:' .. ukey, id)
	end
	redis.call('ZREM', ikey(c, st, q), id)
	redis.call('ZREM', ikey(c, st), id)
	redis.call('PERSIST', jk)
	redis.call('HDEL', jk, 'cancel', 'error', 'result', 'ended_at',
		'started_at', 'progress', 'token', 'lease_until', 'owner')
	enqueue(c, id, q, false, { 'attempts', 0, 'lost', 0 })
	return nil
end

-- requeue: ARGV[4] 'job' with [5] id, or 'failed' with [5] queue ('' all)
-- and [6] the most to requeue.  Returns the ids requeued.
local function requeue(keys, args)
	local c = context(keys, args)
	local out = {}
	if args[4] == 'job' then
		local e = requeue_one(c, args[5], true)
		if e then return e end
		out[1] = args[5]
	else
		local limit = tonumber(args[6]) or 1000
		local q = args[5]
		local k
		if q == '' then k = ikey(c, 'failed') else k = ikey(c, 'failed', q) end
		local ids = redis.call('ZRANGE', k, 0, limit - 1)
		for _, id in ipairs(ids) do
			if requeue_one(c, id, false) == nil then
				out[#out + 1] = id
			else
				-- Stale index entry (the record expired).
				redis.call('ZREM', k, id)
			end
		end
	end
	arm(c)
	return out
end

-- delete: ARGV[4] id.  Removes a finished, failed or canceled job's record
-- and its index entries.  Returns {status it had}.
local function delete(keys, args)
	local c = context(keys, args)
	local id = args[4]
	local jk = jkey(c, id)
	local f = redis.call('HMGET', jk, 'status', 'queue', 'unique_key')
	local st, q = f[1], f[2]
	if not st then return err('NOT_FOUND', id, 'no such job') end
	if not TERMINAL[st] then
		return err('CONFLICT', id, 'job is ' .. st ..
		           ', only finished, failed or canceled jobs can be deleted')
	end
	redis.call('ZREM', ikey(c, st, q), id)
	redis.call('ZREM', ikey(c, st), id)
	release_unique(c, id, f[3])
	redis.call('DEL', jk)
	return { st }
end

-- get: ARGV[4] id.  Returns HGETALL.
local function get(keys, args)
	local r = redis.call('HGETALL', args[1] .. 'job:' .. args[4])
	if #r == 0 then return err('NOT_FOUND', args[4], 'no such job') end
	return r
end

-- The known queues: the priority order first, then the others sorted.
local function all_queues(c, prio)
	local out, seen = {}, {}
	for _, q in ipairs(prio) do
		if not seen[q] then out[#out + 1] = q; seen[q] = true end
	end
	local rest = redis.call('SMEMBERS', c.K .. 'queues')
	table.sort(rest)
	for _, q in ipairs(rest) do
		if not seen[q] then out[#out + 1] = q; seen[q] = true end
	end
	return out
end

-- The index segments a list walks: {key, newest first?}.
local function segments(c, status, queue, queues)
	local segs = {}
	local sts = STATUSES
	if status ~= '' then sts = { status } end
	for _, st in ipairs(sts) do
		local rev = TERMINAL[st] or false
		if queue ~= '' then
			local k
			if st == 'queued' then k = qkey(c, queue)
			else k = ikey(c, st, queue) end
			segs[#segs + 1] = { k, rev }
		elseif TERMINAL[st] then
			segs[#segs + 1] = { ikey(c, st), true }
		elseif st == 'scheduled' then
			segs[#segs + 1] = { c.K .. 'scheduled', false }
		else
			for _, q in ipairs(queues) do
				if st == 'queued' then
					segs[#segs + 1] = { qkey(c, q), false }
				else
					segs[#segs + 1] = { ikey(c, st, q), false }
				end
			end
		end
	end
	return segs
end

local function zrange(key, rev, a, b)
	if rev then return redis.call('ZRANGE', key, a, b, 'REV') end
	return redis.call('ZRANGE', key, a, b)
end

-- The list fields of one job as name/value pairs, or nil if it expired.
local function list_record(c, id)
	local v = redis.call('HMGET', jkey(c, id), unpack(LIST_FIELDS))
	if not v[1] then return nil end
	local rec = {}
	for i, name in ipairs(LIST_FIELDS) do
		if v[i] then
			rec[#rec + 1] = name
			rec[#rec + 1] = v[i]
		end
	end
	return rec
end

-- list: ARGV[4] status, [5] queue, [6] type ('' = any), [7] offset,
-- [8] limit, [9] nqueues, [10..] queues in priority order.
-- Returns {total, record, record, ...}.
local function list(keys, args)
	local c = context(keys, args)
	local status, queue, jtype = args[4], args[5], args[6]
	local offset = math.max(tonumber(args[7]) or 0, 0)
	local limit = math.min(math.max(tonumber(args[8]) or 100, 0), 1000)
	if status ~= '' and not VALID_STATUS[status] then
		return err('BAD_REQUEST', nil, 'unknown status ' .. status)
	end
	local prio = {}
	for k = 1, tonumber(args[9]) or 0 do prio[k] = args[9 + k] end
	local segs = segments(c, status, queue, all_queues(c, prio))
	local out = { 0 }
	local total = 0
	if jtype == '' then
		for _, s in ipairs(segs) do
			s[3] = redis.call('ZCARD', s[1])
			total = total + s[3]
		end
		local skip = offset
		for _, s in ipairs(segs) do
			if #out - 1 >= limit then break end
			if skip >= s[3] then
				skip = skip - s[3]
			else
				local ids = zrange(s[1], s[2], skip,
				                   skip + limit - (#out - 1) - 1)
				skip = 0
				for _, id in ipairs(ids) do
					local rec = list_record(c, id)
					if rec then
						out[#out + 1] = rec
					else
						redis.call('ZREM', s[1], id)
						total = total - 1
					end
				end
			end
		end
	else
		-- No type index: scan, bounded.
		local scanned = 0
		for _, s in ipairs(segs) do
			local pos = 0
			while scanned < LIST_SCAN_MAX do
				local ids = zrange(s[1], s[2], pos, pos + 499)
				if #ids == 0 then break end
				pos = pos + #ids
				scanned = scanned + #ids
				for _, id in ipairs(ids) do
					if redis.call('HGET', jkey(c, id), 'type') == jtype then
						if total >= offset and #out - 1 < limit then
							local rec = list_record(c, id)
							if rec then out[#out + 1] = rec end
						end
						total = total + 1
					end
				end
			end
		end
	end
	out[1] = total
	return out
end

-- stats: ARGV[4] nqueues, [5..] queues in priority order.  Returns
-- {{queue, queued, scheduled, started, finished, failed, canceled,
-- paused}, ...}, {host worker JSON, ...}}.
local function stats(keys, args)
	local c = context(keys, args)
	local prio = {}
	for k = 1, tonumber(args[4]) or 0 do prio[k] = args[4 + k] end
	local rows = {}
	for _, q in ipairs(all_queues(c, prio)) do
		local row = { q, redis.call('ZCARD', qkey(c, q)) }
		for _, st in ipairs({ 'scheduled', 'started', 'finished', 'failed',
		                      'canceled' }) do
			local k = ikey(c, st, q)
			if st == 'finished' then trim(c, k, c.rttl)
			elseif TERMINAL[st] then trim(c, k, c.fttl) end
			row[#row + 1] = redis.call('ZCARD', k)
		end
		row[#row + 1] = redis.call('SISMEMBER', c.K .. 'paused', q)
		rows[#rows + 1] = row
	end
	local hk = c.K .. 'hosts'
	redis.call('ZREMRANGEBYSCORE', hk, '-inf', c.now)
	local workers = {}
	for _, h in ipairs(redis.call('ZRANGE', hk, 0, HOSTS_MAX - 1)) do
		local w = redis.call('GET', c.K .. 'host:' .. h)
		if w then workers[#workers + 1] = w end
	end
	return { rows, workers }
end

-- pause: ARGV[4] queue, [5] '1' pause | '0' resume.
local function pause(keys, args)
	local c = context(keys, args)
	local q = args[4]
	redis.call('SADD', c.K .. 'queues', q)
	if args[5] == '1' then
		redis.call('SADD', c.K .. 'paused', q)
	else
		redis.call('SREM', c.K .. 'paused', q)
		if redis.call('ZCARD', qkey(c, q)) > 0 then
			c.wake = true
			arm(c)
		end
	end
	return 'OK'
end

-- progress: ARGV[4] id, [5] token ('' = whoever holds it), [6] progress
-- JSON.
local function progress(keys, args)
	local c = context(keys, args)
	local id, token = args[4], args[5]
	local jk = jkey(c, id)
	local f = redis.call('HMGET', jk, 'status', 'token')
	if not f[1] then return err('NOT_FOUND', id, 'no such job') end
	if f[1] ~= 'started' then
		return err('CONFLICT', id, 'job is ' .. f[1] .. ', not started')
	end
	if token ~= '' and f[2] ~= token then
		return err('LOST', id, 'lease lost')
	end
	redis.call('HSET', jk, 'progress', args[6])
	return 'OK'
end

-- heartbeat: ARGV[4] host, [5] workers JSON, [6] host info TTL ms,
-- [7] lease_ms, [8] n, then n pairs id token.  Returns {lost, cancel}.
local function heartbeat(keys, args)
	local c = context(keys, args)
	local host, ttl = args[4], tonumber(args[6]) or 30000
	local deadline = c.now + (tonumber(args[7]) or 30000)
	local n = tonumber(args[8]) or 0
	local lost, canc = {}, {}
	for k = 0, n - 1 do
		local id, token = args[9 + 2 * k], args[10 + 2 * k]
		local f = redis.call('HMGET', jkey(c, id), 'status', 'token', 'cancel')
		if f[1] == 'started' and f[2] == token then
			redis.call('ZADD', c.K .. 'active', 'XX', deadline, id)
			redis.call('HSET', jkey(c, id), 'lease_until', deadline)
			if f[3] == '1' then canc[#canc + 1] = id end
		elseif f[1] ~= 'finished' and f[1] ~= 'failed' and
		       f[1] ~= 'canceled' then
			-- Reaped and queued again, or held by someone else.  (A
			-- terminal job was just ended by its holder: not lost.)
			lost[#lost + 1] = id
		end
	end
	if host ~= '' then
		redis.call('SET', c.K .. 'host:' .. host, args[5], 'PX', ttl)
		redis.call('ZADD', c.K .. 'hosts', c.now + ttl, host)
	end
	return { lost, canc }
end

-- reap: ARGV[4] the most to handle, [5] losses tolerated, [6] lease ms.
-- Expired leases: the token is dropped (the old holder is fenced off), the
-- loss counted and noted in the error history; a canceled job ends
-- canceled, one lost too often or with no attempt left fails as abandoned,
-- any other goes back to the front of its queue.  When no reaper ran for
-- longer than a lease (Redis was down or every master stopped), holders
-- could not renew either: expired leases get one more lease instead.
-- Also promotes due scheduled jobs.  Returns {requeued, failed}.
local function reap(keys, args)
	local c = context(keys, args)
	local limit = tonumber(args[4]) or 100
	local max_lost = tonumber(args[5]) or 3
	local lease = tonumber(args[6]) or 30000
	local ak = c.K .. 'active'
	local ids = redis.call('ZRANGEBYSCORE', ak, '-inf', c.now, 'LIMIT', 0,
	                       limit)
	local requeued, failed = {}, {}
	local last = tonumber(redis.call('HGET', c.meta, 'last_reap')) or 0
	redis.call('HSET', c.meta, 'last_reap', c.now)
	if c.now - last > lease then
		for _, id in ipairs(ids) do
			redis.call('ZADD', ak, 'XX', c.now + lease, id)
		end
		ids = {}
	end
	for _, id in ipairs(ids) do
		redis.call('ZREM', ak, id)
		local jk = jkey(c, id)
		local f = redis.call('HMGET', jk, 'status', 'queue', 'cancel',
		                     'attempts', 'max_retries', 'owner')
		if f[1] == 'started' then
			local q = f[2]
			unstart(c, id, q)
			redis.call('HDEL', jk, 'token', 'lease_until')
			local lost = redis.call('HINCRBY', jk, 'lost', 1)
			local attempts = tonumber(f[4]) or 0
			local why = 'lease expired: holder ' .. tostring(f[6] or '?') ..
			            ' stopped renewing it'
			if f[3] == '1' then
				finalize(c, id, 'canceled', q)
				failed[#failed + 1] = id
			elseif lost > max_lost or
			       attempts >= (tonumber(f[5]) or 0) + 1 then
				add_error(c, id, attempts, 'abandoned: ' .. why ..
				          ' (lost ' .. lost .. ' times)')
				finalize(c, id, 'failed', q)
				failed[#failed + 1] = id
			else
				add_error(c, id, attempts, why .. '; requeued')
				enqueue(c, id, q, true)
				requeued[#requeued + 1] = id
			end
		end
	end
	promote(c, PROMOTE_MAX)
	arm(c)
	return { requeued, failed }
end

redis.register_function('jobd_submit', submit)
redis.register_function('jobd_dequeue', dequeue)
redis.register_function('jobd_finish', finish)
redis.register_function('jobd_fail', fail)
redis.register_function('jobd_cancel', cancel)
redis.register_function('jobd_requeue', requeue)
redis.register_function('jobd_delete', delete)
redis.register_function{ function_name = 'jobd_get', callback = get,
                         flags = { 'no-writes' } }
redis.register_function('jobd_list', list)
redis.register_function('jobd_stats', stats)
redis.register_function('jobd_pause', pause)
redis.register_function('jobd_progress', progress)
redis.register_function('jobd_heartbeat', heartbeat)
redis.register_function('jobd_reap', reap)
redis.register_function('jobd_release', release)
