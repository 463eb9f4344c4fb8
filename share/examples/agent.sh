#!/bin/sh
# The demo's scripted agent.  bb-up runs it inside the bottle in place of
# the provider's command (bb-up demo -- sh ./agent.sh); it does what an
# agent would, with curl, git and one MCP call, and says what happens.
set -u

say() {
	printf '\n== agent: %s\n' "$*"
}

say "1. GET https://api.github.com/repos/org/app, with no credential of my own"
curl -sS https://api.github.com/repos/org/app

say "2. GET https://status.example.test/health: not a declared route"
curl -sS https://status.example.test/health

say "3. ask the operator for that route (MCP request_egress_route) and wait"
curl -sS -H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	-d '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params":
	     {"name": "request_egress_route", "arguments":
	      {"host": "status.example.test", "path_allowlist": ["/health"],
	       "reason": "check the service status before deploying"}}}' \
	"$MCP_SUPERVISE_URL" | jq -r '.result.content[0].text'

say "4. GET https://status.example.test/health again"
curl -sS https://status.example.test/health

say "5. clone $DEMO_REPO_URL (rewritten to the git gate), commit, push"
git clone -q "$DEMO_REPO_URL" app || exit 1
cd app || exit 1
echo "hello from the bottle" >hello.txt
git add hello.txt
git commit -qm "Add hello.txt"
git push origin HEAD:main 2>&1 | sed 's/^/    /'

say "6. commit a file with a GitHub token in it, push"
printf 'token = "ghp_%s"\n' "$(printf 'x%.0s' $(seq 36))" >config.ini
git add config.ini
git commit -qm "Add config"
if git push origin HEAD:main 2>&1 | sed 's/^/    /'; then :; fi
git log --oneline -1 origin/main | sed 's/^/    origin\/main is now: /'
