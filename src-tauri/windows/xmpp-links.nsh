; Makes the installed Tern the handler of xmpp: links (RFC 5122) for the
; user (or the machine, in a per-machine install: SHCTX follows the install
; mode). Windows then starts Tern with the link as its argument; a running
; Tern gets it through the single-instance plugin. Uninstalling removes the
; registration only while it still points at this Tern.
; Included by the NSIS installer through bundle.windows.nsis.installerHooks.

!macro NSIS_HOOK_POSTINSTALL
  WriteRegStr SHCTX "Software\Classes\xmpp" "" "URL:XMPP address"
  WriteRegStr SHCTX "Software\Classes\xmpp" "URL Protocol" ""
  WriteRegStr SHCTX "Software\Classes\xmpp\DefaultIcon" "" "$\"$INSTDIR\${MAINBINARYNAME}.exe$\",0"
  WriteRegStr SHCTX "Software\Classes\xmpp\shell\open\command" "" "$\"$INSTDIR\${MAINBINARYNAME}.exe$\" $\"%1$\""
!macroend

!macro NSIS_HOOK_PREUNINSTALL
  Push $0
  ReadRegStr $0 SHCTX "Software\Classes\xmpp\shell\open\command" ""
  StrCmp $0 "$\"$INSTDIR\${MAINBINARYNAME}.exe$\" $\"%1$\"" 0 +2
    DeleteRegKey SHCTX "Software\Classes\xmpp"
  Pop $0
!macroend
