"""An exec handler for the binding tests: echo, crash or report progress."""
import json
import os
import sys
import time

mode = sys.argv[1]
record = json.load(sys.stdin)
if mode == "crash":
    sys.stderr.write("about to fail\n")
    raise RuntimeError(f"handler crashed on purpose: {record['payload']}")
if mode == "progress":
    with os.fdopen(int(os.environ["JOBD_PROGRESS_FD"]), "w") as p:
        for i in range(1, 5):
            p.write(json.dumps({"percent": i * 25, "message": f"step {i}"})
                    + "\n")
            p.flush()
            time.sleep(0.3)
print(json.dumps({"payload": record["payload"], "job_id": record["job_id"],
                  "env_job_id": os.environ.get("JOBD_JOB_ID"),
                  "attempt": os.environ.get("JOBD_ATTEMPT")}))
