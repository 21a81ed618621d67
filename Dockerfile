# mediaedge: one binary, with libvips and ffmpeg at run time.
# Build: docker build -t mediaedge .
# Run:   docker run -p 8080:8080 -e MEDIAEDGE_PUBLIC_URL=http://localhost:8080 mediaedge
# The server listens on 0.0.0.0:8080, so it needs MEDIAEDGE_PUBLIC_URL (--public-url):
# the URL clients reach it at, which prefixes the media URLs it returns (it refuses to
# start without one rather than hand out http://0.0.0.0:8080 URLs). /metrics and
# /admin/cache are on 9090 (MEDIAEDGE_METRICS_LISTEN), never on the public port: publish
# 9090 only to the scraper's network.
FROM golang:1.26-bookworm AS build
# nodejs/npm fetch the web app's two browser libraries (webapp/package.json).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libvips-dev libdeflate-dev pkg-config nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY webapp/package.json webapp/package-lock.json webapp/
RUN cd webapp && npm ci --no-audit --no-fund --loglevel=error
COPY . .
# What `make webapp` does: the vendor files go:embed puts in the binary.
RUN cp webapp/node_modules/tus-js-client/dist/tus.min.js webapp/node_modules/hls.js/dist/hls.min.js webapp/assets/vendor/ \
    && CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/mediaedge ./cmd/mediaedge

FROM debian:bookworm-slim
# libvips42, libdeflate0 and ffmpeg are the run-time halves of what the build linked against.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libvips42 libdeflate0 libvips-tools ffmpeg ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/mediaedge --create-home mediaedge
# The cache disks' mount points (docker-compose.yml mounts a volume at each) and the data
# folder exist here, owned by the runtime user: a new named volume takes the owner of the
# folder it is mounted over, while a mount point missing from the image is created
# root-owned, and uid 10001 could not write its cache there (the disk goes offline).
RUN mkdir -p /cache/a /cache/b /var/lib/mediaedge \
    && chown mediaedge:mediaedge /cache /cache/a /cache/b /var/lib/mediaedge
COPY --from=build /out/mediaedge /usr/local/bin/mediaedge
USER mediaedge
WORKDIR /var/lib/mediaedge
VOLUME ["/var/lib/mediaedge"]
EXPOSE 8080 9090
ENV MEDIAEDGE_LISTEN=0.0.0.0:8080 MEDIAEDGE_METRICS_LISTEN=0.0.0.0:9090 MEDIAEDGE_DATA=/var/lib/mediaedge
# Ready, not merely running: /readyz answers 200 when the store answers and a cache disk
# is online. `mediaedge health` asks http://127.0.0.1:PORT/readyz, PORT from
# MEDIAEDGE_LISTEN; a server whose --listen is given another way needs --url.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 CMD ["mediaedge", "health"]
ENTRYPOINT ["/usr/bin/tini", "--", "mediaedge"]
CMD ["serve"]
