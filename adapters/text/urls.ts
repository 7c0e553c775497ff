/**
 * Text helpers the channels' formatters share (Slack's mrkdwn, Meta's plain text).
 */

/** A bare URL without the punctuation that ends the sentence around it (a `)` is kept when it closes one in the URL). */
export function trimUrl(url: string): string {
  let end = url.length
  let open = url.match(/\(/g)?.length ?? 0
  let close = url.match(/\)/g)?.length ?? 0
  for (;;) {
    const c = url[end - 1]
    if (c && '.,;:!?\'"*_~]'.includes(c)) end--
    else if (c === ')' && open < close) {
      end--
      close--
    } else if (c === '(') {
      end--
      open--
    } else break
  }
  return url.slice(0, end)
}
