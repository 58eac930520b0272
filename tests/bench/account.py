#!/usr/bin/env python3
"""The CPU account of a profiled proxy: `perf script` output (call graphs) in, a table of
where the proxy's CPU goes per request out.

    account.py PERF_SCRIPT_FILE US_PER_REQUEST [--top N] [--detail PART]

`--top N` lists the N innermost functions of the unattributed samples; `--detail PART` those of
the parts whose name contains PART (for finding what a part spends its time in).

Each sample is charged to one *part* of the request's work: walking its call chain from the
sampled function outwards, the first frame that names a part decides (so `malloc` called while
building the log line is the log line's, and a `writev` made by hyper's server is the server's).
Within its part a sample is `user` or `kernel` (a kernel frame sampled), and kernel samples are
also split by what the kernel was doing (the system call, a page fault, an interrupt). Shares of
the samples times US_PER_REQUEST (the process's CPU time per request, measured without the
profiler) give µs per request.

The parts are the rules in PARTS: a regular expression over a frame's symbol (and, for code
the JIT made, its origin), tried in order for each frame.
"""

import re
import sys
from collections import Counter, defaultdict

# (part, pattern). The first rule that matches the innermost matching frame names the part.
# Order matters only between rules that can match the same frame.
PARTS = [
    # The filter component (wasmtime); see sandbox.rs.
    # JIT code named by the gateway's perf map: `wasm[N]::function[M]`, or the function's own name
    # when the component keeps its name section; its trampolines are the next rule's.
    ("component: guest code (the check)",
     r"^wasm\[\d+\]::function|^(?!.*trampoline|module_start).*\(/tmp/perf-\d+\.map\)$"),
    ("component: imports (MAC, digest, keyring)",
     r"keyring::Host|digest::Host|settings::Host|sha2::|hmac::|(?<![A-Za-z])ring::|verify_signature|"
     r"verify_token_mac"),
    ("component: entering and leaving (trampolines, lifting, lowering)",
     # (`cranelift_bforest` is the JIT code registry, looked up by entering and by instantiation.)
     r"component-trampolines|wasm-to-array|array-to-wasm|HostFn::|typed::TypedFunc|lower|(?<!crane)lift|"
     r"catch_unwind_and_record_trap|func::Func::call|call_check"),
    ("component: instantiation", r"InstancePre.*instantiate|FilterPre.*instantiate|"
     r"Instantiator|allocate_instance|Store<T>::new|StoreOpaque::new|store::Store.*::new|"
     r"Sandbox::instance|get_typed_func|typecheck_|^module_start"),
    ("component: dropping the instance, resetting its memory",
     r"drop_in_place<wasmtime|Store.*as core::ops::drop::Drop|deallocate|MemoryPool|"
     r"clear_and_remain_ready|reset_with_anon|decommit|ModuleAffinityIndexAllocator|"
     r"StoreOpaque::drop|Drop for .*Store"),
    ("component: the request converted for the guest, the verdict back",
     r"to_wit_request|verdict_of_wit|filter_request|Request as core::clone::Clone|"
     r"Sandbox::check|Exchange::check"),
    ("log line and metrics", r"serve::log|LogLine|Exchange as core::ops::drop::Drop|metrics::|"
     r"prometheus"),
    ("upstream client (hyper client, pool)", r"upstream::|hyper_util::client|hyper::client|"
     r"client::conn|Connection<T,B> as core::future|forwarded_headers|without_hop_by_hop"),
    ("reading the body", r"body::read|http_body_util::combinators::collect|Collected"),
    ("the exchange (head, route, remember, answer)", r"exchange::|head::|routes::|remember::"),
    ("request id, client head (uuid, header copies)", r"uuid::|Exchange::handle"),
    ("HTTP server (hyper)", r"hyper::proto|hyper::server|hyper_util::server|connection::serve|"
     r"Dispatcher"),
    ("socket I/O and the event loop (tokio: the sends, epoll, scheduling)", r"tokio::runtime"),
    # nginx, for comparison (its binary has no symbols: all of it is one part).
    ("nginx", r"\(/usr/sbin/nginx\)$"),
]
COMPILED = [(part, re.compile(pattern)) for part, pattern in PARTS]

# What the kernel was doing, by the outermost kernel frame that says it.
KERNEL = [
    ("page faults", r"exc_page_fault|handle_mm_fault"),
    ("ioctl (the pooling allocator's PAGEMAP_SCAN)", r"sys_ioctl"),
    ("madvise / memory unmapping", r"madvise|zap_|unmap|tlb_flush|flush_tlb"),
    ("interrupts, IPIs", r"^asm_sysvec|^asm_common_interrupt"),
    ("futex (thread wake-ups)", r"futex"),
    ("preempted at a system call's return", r"exit_to_user_mode_loop"),
    ("sending (write, writev, sendto)", r"sys_write|sys_writev|sys_sendto|sys_sendmsg|tcp_sendmsg"),
    ("receiving (read, recvfrom)", r"sys_read|sys_recvfrom|sys_recvmsg|tcp_recvmsg"),
    ("epoll", r"epoll"),
    ("accept, connect, close", r"sys_accept|sys_connect|sys_close|sys_shutdown"),
    ("sleeps (log writer, epoch ticker)", r"nanosleep"),
    ("getrandom", r"getrandom"),
    ("other system calls", r"sys_|syscall"),
]
KERNEL_COMPILED = [(part, re.compile(pattern)) for part, pattern in KERNEL]


def samples(path):
    """Yields (thread name, period, [(symbol, origin), ...] innermost first) per sample."""
    header, frames = None, []
    for line in open(path, errors="replace"):
        if not line.strip():
            if header:
                yield header[0], header[1], frames
            header, frames = None, []
        elif not line[0].isspace():
            fields = line.split()
            header = (" ".join(fields[:-2]), int(fields[-1]))
        else:
            # "	    addr symbol+off (origin)"
            text = line.strip()
            address, _, rest = text.partition(" ")
            symbol, _, origin = rest.rpartition(" (")
            yield_frame = (symbol, origin.rstrip(")"), address)
            frames.append(yield_frame)
    if header:
        yield header[0], header[1], frames


def is_kernel(frame):
    return frame[2].startswith("ffffffff") and frame[1] == "[kernel.kallsyms]"


def part_of(frames):
    for symbol, origin, _ in frames:
        for part, pattern in COMPILED:
            if pattern.search(f"{symbol} ({origin})"):
                return part
    return None


def kernel_part(frames):
    kernel = [f for f in frames if is_kernel(f)]
    for part, pattern in KERNEL_COMPILED:
        for symbol, _, _ in reversed(kernel):
            if pattern.search(symbol):
                return part
    return "other kernel work"


def main():
    path, per_request = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 0
    detail = sys.argv[sys.argv.index("--detail") + 1] if "--detail" in sys.argv else None
    detailed = Counter()
    total = 0
    by_part = defaultdict(Counter)
    kernel_by = Counter()
    unnamed = Counter()
    threads = Counter()
    for thread, period, frames in samples(path):
        total += period
        kernel = bool(frames) and is_kernel(frames[0])
        if thread.startswith("taskgate-log"):
            part = "log line and metrics"
        elif thread.startswith("taskgate-epoch"):
            part = "component: epoch ticker"
        else:
            part = part_of(frames) or "unattributed (libc, allocator, kernel without a caller)"
        if part.startswith("unattributed"):
            user = [f for f in frames if not is_kernel(f)]
            unnamed[user[0][0] if user else (frames[0][0] if frames else "?")] += period
        by_part[part]["kernel" if kernel else "user"] += period
        if detail and detail in part and frames:
            detailed[frames[0][0]] += period
        if kernel:
            kernel_by[kernel_part(frames)] += period
        threads[thread] += period
    if not total:
        sys.exit("no samples")
    us = lambda n: per_request * n / total
    print(f"| part | µs/req | user | kernel | share |")
    print("|---|---|---|---|---|")
    rows = sorted(by_part.items(), key=lambda kv: -sum(kv[1].values()))
    for part, c in rows:
        n = sum(c.values())
        print(f"| {part} | {us(n):.1f} | {us(c['user']):.1f} | {us(c['kernel']):.1f} "
              f"| {100 * n / total:.1f} % |")
    print(f"| **all** | **{per_request:.1f}** | {us(sum(c['user'] for c in by_part.values())):.1f} "
          f"| {us(sum(c['kernel'] for c in by_part.values())):.1f} | 100 % |")
    print()
    print("| kernel, by what it did | µs/req | share |")
    print("|---|---|---|")
    for part, n in kernel_by.most_common():
        print(f"| {part} | {us(n):.1f} | {100 * n / total:.1f} % |")
    if top:
        print()
        print("Unattributed, by innermost user frame:")
        for symbol, n in unnamed.most_common(top):
            print(f"  {us(n):5.2f} µs  {symbol[:150]}")
        print("Threads:", ", ".join(f"{t} {100 * n / total:.0f} %" for t, n in threads.items()))
    if detail:
        print()
        print(f"Parts named *{detail}*, by innermost function:")
        for symbol, n in detailed.most_common(top or 25):
            print(f"  {us(n):5.2f} µs  {symbol[:150]}")


if __name__ == "__main__":
    main()
