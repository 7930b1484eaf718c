# maxrss.py MB CMD...: runs CMD and prints whether its peak RSS stayed below
# MB megabytes (getrusage of the child), and its exit status.
import resource, subprocess, sys
limit = float(sys.argv[1])
status = subprocess.call(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0  # KiB -> MiB
print("exit", status, "peak RSS below", sys.argv[1], "MB:", peak < limit)
