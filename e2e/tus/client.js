// Drives tus-js-client (its Node API) against a running mediaedge for
// tus_e2e_test.go. Usage: node client.js '<json options>'; prints one JSON
// line with the result on stdout and exits 0, or prints the error on stderr
// and exits 1.
//
// Options:
//   endpoint, token        the tus endpoint (http://HOST/files/) and bearer token
//   file                   path of the file to upload
//   input                  "stream" (fs.ReadStream) or "buffer"
//   chunkSize              bytes per PATCH
//   parallelUploads        > 1 uses the concatenation extension
//   abortAt                abort once the server acknowledged this many bytes
//   urlStorage             a file for tus-js-client's FileUrlStorage: an upload
//                          aborted with it is found again by fingerprint
//   uploadUrl              resume this upload URL directly
//   retryDelays            as tus-js-client's option
'use strict'

const fs = require('fs')
const tus = require('tus-js-client')

const opts = JSON.parse(process.argv[2])
const requests = [] // "METHOD offset" as sent, for the test to check resumption

function source() {
  if (opts.input === 'buffer') return fs.readFileSync(opts.file)
  return fs.createReadStream(opts.file)
}

function run() {
  return new Promise((resolve, reject) => {
    const options = {
      endpoint: opts.endpoint,
      headers: { Authorization: 'Bearer ' + opts.token },
      chunkSize: opts.chunkSize || Infinity,
      retryDelays: opts.retryDelays || [0, 250, 500, 1000, 2000],
      metadata: { filename: opts.file.split('/').pop(), filetype: 'application/octet-stream' },
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        requests.push(req.getMethod() + ' ' + (req.getHeader('Upload-Offset') || ''))
      },
      onError: reject,
    }
    if (opts.parallelUploads) options.parallelUploads = opts.parallelUploads
    if (opts.uploadUrl) options.uploadUrl = opts.uploadUrl
    if (opts.urlStorage) {
      options.urlStorage = new tus.FileUrlStorage(opts.urlStorage)
    } else {
      options.storeFingerprintForResuming = false
    }
    let upload
    options.onChunkComplete = (_size, accepted) => {
      if (opts.abortAt && accepted >= opts.abortAt) {
        // abort(false) keeps the upload on the server for a later resume.
        upload.abort(false).then(() => resolve({ aborted: true, url: upload.url, accepted }), reject)
      }
    }
    options.onSuccess = (payload) => {
      const res = payload && payload.lastResponse
      resolve({
        url: upload.url,
        mediaId: res ? res.getHeader('X-Media-Id') || '' : '',
      })
    }
    upload = new tus.Upload(source(), options)
    if (opts.urlStorage) {
      upload.findPreviousUploads().then((previous) => {
        if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0])
        upload.start()
      }, reject)
    } else {
      upload.start()
    }
  })
}

run().then(
  (result) => {
    result.requests = requests
    process.stdout.write(JSON.stringify(result) + '\n')
    process.exit(0)
  },
  (err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
    process.exit(1)
  },
)
