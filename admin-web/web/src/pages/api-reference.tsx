import { useEffect, useRef, useState } from 'react'
import SwaggerUIBundle from 'swagger-ui-dist/swagger-ui-bundle.js'
import 'swagger-ui-dist/swagger-ui.css'
import './api-reference.css'
import { useI18n } from '../i18n.ts'
import { ErrorBox, Loading } from '../ui.tsx'

const DOCUMENT = '/api/v1/openapi.json'

/**
 * The HTTP API's reference: the server's own OpenAPI document (GET /api/v1/openapi.json) drawn by
 * Swagger UI, bundled from npm and loaded only when this page is opened. Read requests can be tried
 * from here with the signed-in session; changes are made in the product's own pages.
 */
export function ApiReference() {
  const { t } = useI18n()
  const node = useRef<HTMLDivElement>(null)
  const [state, setState] = useState<{ loading: boolean; error?: unknown }>({ loading: true })

  useEffect(() => {
    if (!node.current) return
    let cancelled = false
    const ui = SwaggerUIBundle({
      domNode: node.current,
      url: DOCUMENT,
      deepLinking: false,
      docExpansion: 'list',
      defaultModelsExpandDepth: -1,
      displayRequestDuration: true,
      filter: true,
      tryItOutEnabled: false,
      // Only reads are tried from this page: a change goes through the page made for it.
      supportedSubmitMethods: ['get'],
      validatorUrl: null,
      onComplete: () => !cancelled && setState({ loading: false }),
      requestInterceptor: (request: { credentials?: string }) => ({ ...request, credentials: 'same-origin' }),
    })
    // Swagger UI reports a document it could not load in its own view; the page says so too.
    void fetch(DOCUMENT).then(
      (res) => !cancelled && !res.ok && setState({ loading: false, error: new Error(`${DOCUMENT}: ${res.status}`) }),
      (error: unknown) => !cancelled && setState({ loading: false, error }),
    )
    return () => {
      cancelled = true
      void ui
      if (node.current) node.current.replaceChildren()
    }
  }, [])

  return (
    <>
      <h1 tabIndex={-1}>{t('apiTitle')}</h1>
      <p className="hint">
        {t('apiIntro')} <a href={DOCUMENT}>{DOCUMENT}</a>
      </p>
      {state.loading && <Loading />}
      {state.error ? <ErrorBox error={state.error} /> : null}
      <div className="card api-reference" ref={node} />
    </>
  )
}
