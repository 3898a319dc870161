{* Intervention sign-off: "My interventions" in the client area. The module builds the
   body with every value already HTML-escaped ($signoff_body); $interventions holds the
   same data for a host who prefers to lay it out here. *}
<div class="intervention-signoff">
    {$signoff_body}
</div>
