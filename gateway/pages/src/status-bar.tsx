import { useEffect } from 'preact/hooks';
import { htmlLang, type Lang, t } from './i18n.js';
import type { Link } from './link.js';

/** The line every page shows: which station, the link to the gateway, and whether the gateway is online. */
export function StatusBar(props: {
  title: string;
  station: string;
  lang: Lang;
  link: Link;
  onLang: () => void;
}) {
  const { lang, link } = props;
  const online = link.gateway?.online;
  // The document says which language it is in, and its title follows.
  useEffect(() => {
    document.documentElement.lang = htmlLang(lang);
    document.title = `${props.title} · ${props.station}`;
  }, [lang, props.title, props.station]);
  return (
    <header class="bar">
      <h1>
        {props.title} <small>{props.station}</small>
      </h1>
      <span class={`chip link-${link.link}`} data-testid="link">
        {t(lang, 'gatewayLink')}: {t(lang, link.link)}
      </span>
      {link.gateway && (
        <span
          class={`chip ${online ? 'online' : 'offline'}`}
          data-testid="uplink"
          data-online={String(online)}
        >
          {online ? t(lang, 'online') : t(lang, 'offline')}
        </span>
      )}
      <button type="button" class="lang" lang={htmlLang(lang === 'zh' ? 'en' : 'zh')} onClick={props.onLang}>
        {t(lang, 'language')}
      </button>
    </header>
  );
}
