import json, sys, tempfile
from pathlib import Path
from benchmarks import bench_crawl as bench
from benchmarks import bench_media_workers as bm

images = [bench.jpeg(i, (640, 480)) for i in range(int(sys.argv[1]))]
routes = bench.site(max(1, len(images) // 20), 20, 1, images)
server, port = bench.start_server(routes)
try:
    with tempfile.TemporaryDirectory() as tmp:
        import subprocess

        orig = subprocess.run

        def run(*a, **k):
            d = orig(*a, **k)
            if isinstance(d.stderr, str):
                print(d.stderr[-3000:])
            return d

        subprocess.run = run
        st = bm.crawl(port, Path(tmp), images[::50], int(sys.argv[2]))
        print(json.dumps(st, indent=0))
finally:
    server.terminate()
