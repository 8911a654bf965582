#!/bin/sh
# record.sh MODE LOG: an exec handler for the fault-injection suite.
# It appends one line per execution to LOG (O_APPEND, one write each):
#   start JOB_ID ATTEMPT PID WORKER_PID MASTER_PID UPTIME
# then does its work by MODE (quick: nothing; short: sleep 0.2 s; slow:
# sleep 2.5 s; fail: exit 3), and appends "end JOB_ID ATTEMPT PID ok|fail"
# once its work is done.  /bin/sh (dash) keeps the start-up cost tiny.
mode=$1
log=$2
secs=${3:-10}
read -r up _ < /proc/uptime
master=0
if read -r stat < "/proc/$PPID/stat"; then
	# pid (comm) state ppid ...: comm is "jobd", no spaces.
	set -- $stat
	master=$4
fi
echo "start $JOBD_JOB_ID $JOBD_ATTEMPT $$ $PPID $master $up" >> "$log"
# Consume the job record (the daemon writes it on stdin).
while read -r _line; do :; done
case $mode in
quick) ;;
short) sleep 0.2 ;;
slow) sleep 2.5 ;;
long) sleep "$secs" ;;
fail)
	echo "end $JOBD_JOB_ID $JOBD_ATTEMPT $$ fail" >> "$log"
	echo "intentional failure (record.sh fail)" >&2
	exit 3 ;;
esac
echo "end $JOBD_JOB_ID $JOBD_ATTEMPT $$ ok" >> "$log"
echo "{\"pid\": $$, \"mode\": \"$mode\"}"
