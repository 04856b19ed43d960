# syntax=docker/dockerfile:1
# idpgate: a static binary on a distroless, non-root image (no shell, no
# package manager). Build from the repository root:
#
#	docker build -t idpgate .
#
# The build stage compiles the same main package as `go build .`.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/idpgate .

# distroless/static carries the CA certificates (Auth0 and the providers
# are reached over HTTPS) and runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idpgate /idpgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/idpgate"]
