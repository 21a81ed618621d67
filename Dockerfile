# mediaedge: one binary, with libvips and ffmpeg at run time.
# Build: docker build -t mediaedge .
FROM golang:1.26-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libvips-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/mediaedge ./cmd/mediaedge

FROM debian:bookworm-slim
# libvips42 and ffmpeg are the run-time halves of what the build linked against.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libvips42 libvips-tools ffmpeg ca-certificates tini \
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
