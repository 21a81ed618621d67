# mediaedge: one binary, with libvips and ffmpeg at run time.
# Build: docker build -t mediaedge .
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
COPY --from=build /out/mediaedge /usr/local/bin/mediaedge
USER mediaedge
WORKDIR /var/lib/mediaedge
VOLUME ["/var/lib/mediaedge"]
EXPOSE 8080 9090
ENV MEDIAEDGE_LISTEN=0.0.0.0:8080 MEDIAEDGE_DATA=/var/lib/mediaedge
ENTRYPOINT ["/usr/bin/tini", "--", "mediaedge"]
CMD ["serve"]
