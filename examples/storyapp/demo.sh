#!/bin/sh
# demo.sh: drive a running story app (web + jobd + redis) through its API:
# generate a few stories in the background, revise and export them, and
# show each job's status and progress as it moves.
#
#   ./demo.sh                      # app at http://127.0.0.1:5000
#   APP_URL=http://host:port ./demo.sh
#
# Needs curl and /usr/bin/python3 (for reading JSON).  Start the stack first,
# e.g. with the Procfile (see docs/storyapp.md):
#   redis-server &  python3 worker.py &  gunicorn -c gunicorn_config.py app:app
set -eu

APP_URL=${APP_URL:-http://127.0.0.1:5000}
PY=/usr/bin/python3
WORDS=${WORDS:-4000}

# json FIELD: read a JSON document on stdin, print FIELD (dotted path).
json() {
	$PY -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v,(dict,list)) else v))' "$1"
}

api() { # api METHOD PATH [JSON]
	if [ $# -ge 3 ]; then
		curl -sS -X "$1" -H 'Content-Type: application/json' -d "$3" "$APP_URL$2"
	else
		curl -sS -X "$1" "$APP_URL$2"
	fi
}

# follow JOB_ID LABEL: print status/progress changes until the job ends.
follow() {
	last=""
	while :; do
		job=$(api GET "/api/job/$1")
		status=$(printf '%s' "$job" | json status)
		pct=$(printf '%s' "$job" | json progress.percent)
		msg=$(printf '%s' "$job" | json progress.message)
		line="$status${pct:+ $pct%}${msg:+ - $msg}"
		if [ "$line" != "$last" ]; then
			printf '  %-14s %s  %s\n' "$2" "$1" "$line"
			last=$line
		fi
		case $status in
		finished|failed|canceled) break ;;
		"") echo "  cannot read job $1: $job" >&2; return 1 ;;
		esac
		sleep 0.3
	done
	FOLLOWED=$job
}

# submit METHOD PATH JSON: print the job id, or fail loudly if the app
# answered synchronously (jobd not running / USE_BACKGROUND_JOBS=false).
submit() {
	resp=$(api "$@")
	id=$(printf '%s' "$resp" | json job_id)
	if [ -z "$id" ]; then
		echo "expected a 202 with a job_id, got: $(printf '%s' "$resp" | head -c 300)" >&2
		echo "is jobd running and USE_BACKGROUND_JOBS=true?" >&2
		exit 1
	fi
	printf '%s\n' "$id"
}

echo "== health"
api GET /api/health; echo

echo "== generating 3 stories in the background ($WORDS words each)"
set -- \
	'{"idea":"A lighthouse keeper who hears voices in the fog","character":{"name":"Mara","traits":["brave","lonely"]},"theme":"courage","genre":"Mystery"}' \
	'{"idea":"A cartographer maps a kingdom that rearranges itself every night","character":{"name":"Ilan","traits":["meticulous"]},"theme":"change","genre":"Fantasy"}' \
	'{"idea":"The last engineer on a drifting station repairs the AI that exiled the crew","character":{"name":"Oksana","traits":["stubborn","wry"]},"theme":"forgiveness","genre":"Science Fiction"}'
jobs=""
for body in "$@"; do
	body=$(printf '%s' "$body" | sed "s/}\$/,\"length\":$WORDS,\"background\":true}/")
	id=$(submit POST /api/generate "$body")
	echo "  queued generate_story $id"
	jobs="$jobs $id"
done

stories=""
for id in $jobs; do
	follow "$id" generate
	sid=$(printf '%s' "$FOLLOWED" | json result.story_id)
	wc=$(printf '%s' "$FOLLOWED" | json result.word_count)
	echo "  -> $sid ($wc words)"
	stories="$stories $sid"
done

echo "== revising them in the background"
for sid in $stories; do
	id=$(submit POST "/api/story/$sid/revise" '{"background":true,"use_llm":true}')
	follow "$id" revise
	echo "  -> $(printf '%s' "$FOLLOWED" | json result)"
done

echo "== a chain: generate, revise, export as html, each step its own job"
resp=$(api POST /api/generate "{\"idea\":\"A clockmaker builds a clock that runs backwards\",\"length\":$WORDS,\"background\":true,\"then\":[\"revise\",\"export:html\"]}")
chain=$(printf '%s' "$resp" | $PY -c 'import json,sys; print(" ".join(json.load(sys.stdin).get("chain") or []))')
if [ -z "$chain" ]; then
	echo "expected a 202 with a chain, got: $(printf '%s' "$resp" | head -c 300)" >&2
	exit 1
fi
set -- generate revise export
for id in $chain; do
	follow "$id" "chain:$1"
	shift
done
chain_download=$(printf '%s' "$FOLLOWED" | json result.download_url)

echo "== exporting each story (epub) and all of them (md, one jobd batch)"
downloads=""
for sid in $stories; do
	id=$(submit GET "/api/story/$sid/export/epub?background=true")
	follow "$id" export
	downloads="$downloads $(printf '%s' "$FOLLOWED" | json result.download_url)"
done
ids=$(printf '"%s",' $stories | sed 's/,$//')
id=$(submit POST /api/export/batch "{\"story_ids\":[$ids],\"format\":\"md\",\"background\":true}")
follow "$id" batch
echo "  -> $(printf '%s' "$FOLLOWED" | json batch)"
downloads="$downloads $(printf '%s' "$FOLLOWED" | json result.download_url) $chain_download"

echo
echo "== done. Where to look:"
for sid in $stories; do
	echo "  story:    $APP_URL/api/story/$sid"
done
for d in $downloads; do
	echo "  download: $APP_URL$d"
done
echo "  files:    the app's EXPORT_DIR (default data/exports), stories in STORY_DB"
echo "  jobs:     jobctl list --status finished ; jobctl stats"
